/**
 * String order by UTF-16 code unit, as Array.prototype.sort() with no comparator uses: deterministic, and
 * free. `localeCompare` loads the ICU collator on its first call (~7 ms of a run's CPU on these machines)
 * for an order nobody here needs (interface, bridge, host and run names).
 */
export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
