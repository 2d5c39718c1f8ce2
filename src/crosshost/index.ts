/**
 * The product's core: cross-host container networking in four strategies (routes, bridge, ovs-gre,
 * vxlan). Exported from 'orch'; the playbooks in playbooks/ are thin examples over it.
 */
export { STRATEGIES, OVERHEAD, SUBNET_PREFIX, type Strategy, type Member, type Cluster, type SurveyRoute, type RouteSurvey } from './types.ts'
export { DEFAULTS as CROSSHOST_DEFAULTS } from './vars.ts'
export { cluster } from './cluster.ts'
export { allocateContainerSubnets, foreignRoutes, MARKER_PATH, parseMarked, staleMarked, surveyRoutes, routeSurvey } from './routes.ts'
export { planLanIps } from './lan.ts'
export { wireguardTasks, KeyGathering, rotateKeys } from './wireguard.ts'
export { deferred, type Pending } from './deferred.ts'
export { probeMatrix, probeIface, probePathMtu, expectedMtu } from './check.ts'
export {
  bridgeTasks,
  crossHostTasks,
  lanProbeTasks,
  overlayProbeTasks,
  ovsGreTasks,
  probeContainer,
  routesTasks,
  strategyTasks,
  vxlanTasks,
  type StrategyOptions,
} from './strategies.ts'
