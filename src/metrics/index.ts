export { PostgresMetrics, type PostgresMetricsOptions } from './collector.js';
export { ensureMetricsRole } from './role.js';
