/**
 * @dozer/connectors/testing: the conformance kit a connector author runs in
 * their own tests (Vitest, `node:test` or any framework with `describe`
 * and `it`), and the value checks it is built on.
 */
export {
  type ConformanceFramework,
  type ConformanceOptions,
  type InvalidConfigCase,
  runConnectorConformance,
} from './conformance.js';
export { rowProblems, valueProblem } from './value-check.js';
