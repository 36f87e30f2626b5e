export * from './config/index.js';
export { main } from './main.js';
export {
  type PipelinePlan,
  type PlanOptions,
  planPipeline,
  type RunningPipeline,
  startPipeline,
} from './pipeline.js';
