export { BadRequestError, HTTP_STATUS_BY_CODE, NotFoundError, httpStatusOf } from './errors.js';
export { type RestEndpoint, type RestOptions, type RunningServer, createRestApp, startHttpServer } from './rest.js';
