/**
 * Defaults the CLI shows in its help. A module of their own: `orch --help`, `--version`, `status`, ...
 * then start without loading the runner and what it imports (~15 ms).
 */

/** Default number of hosts worked on at once: a 20-host lab runs fully in parallel. */
export const DEFAULT_FORKS = 20
