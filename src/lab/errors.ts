/** The lab's errors (a leaf module: imports nothing). */

/** The lab cannot run on this machine (no root, no namespaces, missing commands). */
export class LabUnavailableError extends Error {
  name = 'LabUnavailableError'
}

/** A bad option or argument, found before anything is created. */
export class LabInputError extends Error {
  name = 'LabInputError'
}
