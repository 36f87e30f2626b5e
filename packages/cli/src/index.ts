export * from './config/index.js';
export { main } from './main.js';
export { type PipelinePlan, planPipeline, type RunningPipeline, startPipeline } from './pipeline.js';
