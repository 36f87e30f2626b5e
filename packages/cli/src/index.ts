export * from './config/index.js';
export { main } from './main.js';
export { type PipelinePlan, type RunningPipeline, planPipeline, startPipeline } from './pipeline.js';
