import type { FieldDefinition, JsonValue, Schema } from '@dozer/core';

type JsonObject = { [key: string]: JsonValue };

/** One endpoint as the OpenAPI document describes it. */
export interface OpenApiEndpoint {
  readonly name: string;
  readonly path: string;
  readonly schema: Schema;
}

/** The JSON Schema of one field's JSON form (see `valueToJson` in @dozer/core). */
export function fieldJsonSchema(field: FieldDefinition): JsonObject {
  const base = ((): JsonObject => {
    switch (field.type) {
      case 'int':
        return {
          type: 'string',
          format: 'int64',
          pattern: '^-?[0-9]+$',
          description: '64-bit signed integer, as a string so it stays exact',
        };
      case 'uint':
        return {
          type: 'string',
          format: 'uint64',
          pattern: '^[0-9]+$',
          description: '64-bit unsigned integer, as a string so it stays exact',
        };
      case 'float':
        return {
          oneOf: [
            { type: 'number', format: 'double' },
            { type: 'string', enum: ['NaN', 'Infinity', '-Infinity'] },
          ],
        };
      case 'boolean':
        return { type: 'boolean' };
      case 'string':
      case 'text':
        return { type: 'string' };
      case 'binary':
        return { type: 'string', contentEncoding: 'base64' };
      case 'decimal': {
        const p =
          field.precision !== undefined ? ` (precision ${field.precision}, scale ${field.scale ?? 0})` : '';
        return {
          type: 'string',
          format: 'decimal',
          pattern: '^-?[0-9]+(\\.[0-9]+)?$',
          description: `exact decimal${p}`,
        };
      }
      case 'timestamp':
        return { type: 'string', format: 'date-time', description: 'RFC 3339, UTC, microseconds' };
      case 'date':
        return { type: 'string', format: 'date' };
      case 'json':
        return { description: 'any JSON document' };
      case 'duration':
        return { type: 'string', format: 'duration', description: 'ISO 8601 duration' };
      case 'point':
        return {
          type: 'object',
          properties: { x: { type: 'number' }, y: { type: 'number' } },
          required: ['x', 'y'],
        };
    }
  })();
  if (!field.nullable) return base;
  if (typeof base.type === 'string') return { ...base, type: [base.type, 'null'] };
  return { oneOf: [base, { type: 'null' }] };
}

const FILTER_SCHEMA: JsonObject = {
  type: 'object',
  description:
    'Field conditions ANDed together: {"field": value} is equality, {"field": {"$eq"|"$lt"|"$lte"|"$gt"|"$gte": value}}; on string and text fields {"field": {"$contains"|"$matches_any"|"$matches_all": "words"}}; {"$and": [filter, ...]}, {"$or": [filter, ...]}.',
  additionalProperties: true,
};

/**
 * The OpenAPI 3.1 document of a set of endpoints: their routes, the record
 * schema of each with the real field types, the query language and errors.
 */
export function openApiDocument(
  endpoints: readonly OpenApiEndpoint[],
  info: { title: string; version: string },
): JsonObject {
  const paths: JsonObject = {};
  const schemas: JsonObject = {
    Error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
    Filter: FILTER_SCHEMA,
    Query: {
      type: 'object',
      properties: {
        $filter: { $ref: '#/components/schemas/Filter' },
        $order_by: {
          description: '{"field": "asc"|"desc"} or a list of those; ties by primary key, NULLs first',
          oneOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }],
        },
        $limit: { type: 'integer', minimum: 0 },
        $skip: { type: 'integer', minimum: 0 },
        $after: {
          type: 'string',
          description:
            'the x-next-cursor header of the previous page: continue strictly after its last row (same filter and order)',
        },
      },
      additionalProperties: false,
    },
    Count: { type: 'object', properties: { count: { type: 'integer' } }, required: ['count'] },
  };
  const errors = (codes: number[]): JsonObject =>
    Object.fromEntries(
      codes.map((c) => [
        String(c),
        {
          description: ERROR_TEXT[c] ?? 'error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      ]),
    );
  for (const ep of endpoints) {
    const recordName = `${pascal(ep.name)}Record`;
    schemas[recordName] = {
      type: 'object',
      properties: Object.fromEntries(ep.schema.fields.map((f) => [f.name, fieldJsonSchema(f)])),
      required: ep.schema.fields.map((f) => f.name),
      additionalProperties: false,
    };
    const record = { $ref: `#/components/schemas/${recordName}` };
    const list = { 'application/json': { schema: { type: 'array', items: record } } };
    const page = {
      description: 'records',
      headers: {
        'x-next-cursor': {
          description: 'present when more rows follow: pass it as $after (or ?after=) for the next page',
          schema: { type: 'string' },
        },
      },
      content: list,
    };
    const base = ep.path === '/' ? '' : ep.path.replace(/\/+$/, '');
    const tag = [ep.name];
    paths[base || '/'] = {
      get: {
        tags: tag,
        operationId: `list_${ep.name}`,
        summary: `Records of ${ep.name} in key order`,
        parameters: [
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'skip', in: 'query', schema: { type: 'integer', minimum: 0 } },
          {
            name: 'after',
            in: 'query',
            description: 'the x-next-cursor header of the previous page',
            schema: { type: 'string' },
          },
        ],
        responses: { '200': page, ...errors([400, 401, 403]) },
      },
    };
    const pk = ep.schema.primaryKey.map((i) => ep.schema.fields[i]!.name);
    if (pk.length > 0) {
      paths[`${base}/{key}`] = {
        get: {
          tags: tag,
          operationId: `get_${ep.name}`,
          summary: `One record of ${ep.name} by key (${pk.join(', ')}; composite keys comma-separated)`,
          parameters: [{ name: 'key', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'the record', content: { 'application/json': { schema: record } } },
            ...errors([400, 401, 403, 404]),
          },
        },
      };
    }
    paths[`${base}/query`] = {
      post: {
        tags: tag,
        operationId: `query_${ep.name}`,
        summary: `Filter, order and page ${ep.name}`,
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Query' } } } },
        responses: { '200': page, ...errors([400, 401, 403]) },
      },
    };
    paths[`${base}/count`] = {
      post: {
        tags: tag,
        operationId: `count_${ep.name}`,
        summary: `Count records of ${ep.name} matching a filter`,
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { $filter: { $ref: '#/components/schemas/Filter' } },
                additionalProperties: false,
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'the count',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Count' } } },
          },
          ...errors([400, 401, 403]),
        },
      },
    };
    paths[`${base}/events`] = {
      get: {
        tags: tag,
        operationId: `events_${ep.name}`,
        summary: `Live changes of ${ep.name} as Server-Sent Events`,
        description:
          'After a comment line once the stream follows the change feed, one event per change in commit order: `id` is the version after it, `data` is {"op": "insert"|"update"|"delete", "old"?, "new"?, "version"}. Under a filter an update into it arrives as an insert and out of it as a delete. `event: error` says why the server ended the stream and the Last-Event-ID to resume from.',
        parameters: [
          {
            name: 'filter',
            in: 'query',
            description: 'a $filter object as JSON text',
            schema: { type: 'string' },
          },
          {
            name: 'after',
            in: 'query',
            description: 'replay the retained changes after this version first',
            schema: { type: 'string', pattern: '^[0-9]+$' },
          },
          {
            name: 'access_token',
            in: 'query',
            description: 'the bearer token, for clients that cannot send headers (EventSource)',
            schema: { type: 'string' },
          },
          {
            name: 'Last-Event-ID',
            in: 'header',
            description: 'as `after`; sent by an EventSource that reconnects',
            schema: { type: 'string', pattern: '^[0-9]+$' },
          },
        ],
        responses: {
          '200': {
            description: 'the event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errors([400, 401, 403]),
        },
      },
    };
    paths[`${base}/oapi`] = {
      get: {
        tags: tag,
        operationId: `oapi_${ep.name}`,
        summary: `The OpenAPI document of ${ep.name} alone`,
        responses: {
          '200': {
            description: 'OpenAPI 3.1',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
          ...errors([400]),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version },
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}

const ERROR_TEXT: { [status: number]: string } = {
  400: 'malformed request (also a query parameter the route does not take)',
  401: 'missing or invalid token',
  403: 'the token does not grant this endpoint',
  404: 'no such record',
};

function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}
