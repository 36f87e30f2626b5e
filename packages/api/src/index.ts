export { BadRequestError, HTTP_STATUS_BY_CODE, httpStatusOf, NotFoundError } from './errors.js';
export {
  createRestApp,
  type RestEndpoint,
  type RestOptions,
  type RunningServer,
  startHttpServer,
} from './rest.js';
