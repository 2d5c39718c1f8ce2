/** Host snapshots for tests: the same code orch uses to check that a rollback restored a host. */
export { snapshot, snapshotDiff } from '../../src/safety/fingerprint.ts'
