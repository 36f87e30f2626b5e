import { DozerError, type FieldDefinition, type FieldType, type Schema } from '@dozer/core';

/**
 * Version of the generated per-endpoint `.proto` layout, written into every
 * generated file. Version 1:
 *
 * - package `dozer.generated.<endpoint>`, service `<Endpoint>` (PascalCase);
 * - `Record`: one field per schema field, numbered from 1 in schema order,
 *   typed as in `dozer/types.proto`; nullable scalars are `optional`, NULL is
 *   an absent field;
 * - rpcs `count`, `query` (query JSON text as on REST), `get` by primary key
 *   (only when the endpoint has one) and `on_event` (a server stream of
 *   changes, optionally filtered and resumed after a version).
 */
export const ENDPOINT_PROTO_VERSION = 1;

/** An endpoint whose `.proto` is generated: its name and schema. */
export interface ProtoEndpoint {
  readonly name: string;
  readonly schema: Schema;
}

/** One schema field as it appears in the generated `Record`. */
export interface ProtoField {
  /** Position in the schema (and in rows). */
  readonly index: number;
  readonly field: FieldDefinition;
  /** The protobuf field name: the schema name, or a sanitised one when it is not an identifier. */
  readonly protoName: string;
  /** The field number (index + 1). */
  readonly number: number;
}

/** How an endpoint maps onto its generated `.proto`. */
export interface EndpointProtoLayout {
  /** `dozer.generated.<name>`. */
  readonly packageName: string;
  /** The service name inside the package, e.g. `Trips`. */
  readonly serviceName: string;
  /** Fully qualified service name, e.g. `dozer.generated.trips.Trips`. */
  readonly fullServiceName: string;
  /** The file name `dozer build` writes, e.g. `trips.proto`. */
  readonly fileName: string;
  readonly fields: readonly ProtoField[];
  /** The primary key fields in key order (empty: no `get` rpc). */
  readonly keyFields: readonly ProtoField[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A protobuf identifier for a name: other characters become `_`, a leading digit gets a `_` before it. */
function sanitize(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (s === '' || /^[0-9]/.test(s)) s = `_${s}`;
  return s;
}

function pascal(name: string): string {
  const s = sanitize(name)
    .split('_')
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  return s === '' || /^[0-9]/.test(s) ? `E${s}` : s;
}

/** The layout of an endpoint's generated `.proto` (names, field numbers). */
export function endpointProtoLayout(endpoint: ProtoEndpoint): EndpointProtoLayout {
  if (!IDENT.test(endpoint.name)) {
    throw new DozerError(
      'CONFIG',
      `endpoint name "${endpoint.name}" cannot name a protobuf package: use letters, digits and _ and start with a letter or _`,
    );
  }
  const used = new Set<string>();
  const fields = endpoint.schema.fields.map((field, index): ProtoField => {
    const base = sanitize(field.name);
    let protoName = base;
    for (let n = 2; used.has(protoName.toLowerCase()); n++) protoName = `${base}_${n}`;
    used.add(protoName.toLowerCase());
    return { index, field, protoName, number: index + 1 };
  });
  const packageName = `dozer.generated.${endpoint.name}`;
  const serviceName = pascal(endpoint.name);
  return {
    packageName,
    serviceName,
    fullServiceName: `${packageName}.${serviceName}`,
    fileName: `${endpoint.name}.proto`,
    fields,
    keyFields: endpoint.schema.primaryKey.map((i) => fields[i]!),
  };
}

/** The protobuf type carrying a field type (see `dozer/types.proto`). */
const PROTO_TYPE: { readonly [T in FieldType]: string } = {
  int: 'int64',
  uint: 'uint64',
  float: 'double',
  boolean: 'bool',
  string: 'string',
  text: 'string',
  binary: 'bytes',
  decimal: '.dozer.types.Decimal',
  timestamp: '.google.protobuf.Timestamp',
  date: 'string',
  json: 'string',
  duration: '.dozer.types.Duration',
  point: '.dozer.types.Point',
};

/** Whether a field type is carried by a message (which has presence of its own, so needs no `optional`). */
export function isMessageType(type: FieldType): boolean {
  return PROTO_TYPE[type].startsWith('.');
}

function typeComment(f: FieldDefinition): string {
  const extra: string[] = [];
  if (f.type === 'decimal' && f.precision !== undefined)
    extra.push(`precision ${f.precision}, scale ${f.scale ?? 0}`);
  if (f.type === 'date') extra.push('"YYYY-MM-DD"');
  if (f.type === 'json') extra.push('JSON text');
  return `${f.type}${f.nullable ? ', nullable' : ''}${extra.length ? `, ${extra.join(', ')}` : ''}`;
}

function fieldLine(p: ProtoField, forceRequired: boolean): string {
  const t = PROTO_TYPE[p.field.type];
  const optional = p.field.nullable && !forceRequired && !isMessageType(p.field.type) ? 'optional ' : '';
  const renamed = p.protoName === p.field.name ? '' : ` field "${p.field.name}",`;
  return `  ${optional}${t} ${p.protoName} = ${p.number}; //${renamed} ${typeComment(p.field)}`;
}

/**
 * The `.proto` text of an endpoint's typed gRPC service, generated from its
 * schema (`dozer build` writes it; the gRPC server serves the same service).
 * The output is deterministic: the same schema gives the same text.
 */
export function generateEndpointProto(endpoint: ProtoEndpoint): string {
  const l = endpointProtoLayout(endpoint);
  const hasKey = l.keyFields.length > 0;
  const usesTimestamp = l.fields.some((f) => f.field.type === 'timestamp');
  const keyNames = l.keyFields.map((f) => f.field.name).join(', ');
  const lines = [
    `// Generated by Dozer-TS from the schema of endpoint "${endpoint.name}". Do not edit: \`dozer build\` rewrites it.`,
    `// Layout version ${ENDPOINT_PROTO_VERSION}. Values as in dozer/types.proto; an absent field is NULL.`,
    'syntax = "proto3";',
    '',
    `package ${l.packageName};`,
    '',
    'import "dozer/types.proto";',
    ...(usesTimestamp ? ['import "google/protobuf/timestamp.proto";'] : []),
    '',
    `// The typed API of endpoint "${endpoint.name}".`,
    `service ${l.serviceName} {`,
    '  // Number of records matching the "$filter" of the query.',
    '  rpc count(QueryRequest) returns (CountResponse);',
    '  // Records: "$filter", "$order_by", "$limit", "$skip", "$after" as on REST.',
    '  rpc query(QueryRequest) returns (QueryResponse);',
    ...(hasKey
      ? [
          `  // The record with this primary key (${keyNames}); NOT_FOUND when none.`,
          '  rpc get(GetRequest) returns (Record);',
        ]
      : []),
    '  // Live changes from now on (or after `after_version`), optionally filtered.',
    '  rpc on_event(EventRequest) returns (stream Event);',
    '}',
    '',
    `// One record of "${endpoint.name}".`,
    'message Record {',
    ...l.fields.map((f) => fieldLine(f, false)),
    '}',
    '',
    'message QueryRequest {',
    '  // A query as JSON text, e.g. {"$filter": {"fare": {"$gt": 100}}, "$limit": 10}; count reads only "$filter".',
    '  optional string query = 1;',
    '}',
    '',
    'message QueryResponse {',
    '  repeated Record records = 1;',
    '  // Present when more rows follow: pass it as "$after" in the next query to continue after the last record.',
    '  optional string next_cursor = 2;',
    '}',
    '',
    'message CountResponse {',
    '  uint64 count = 1;',
    '}',
    '',
    ...(hasKey
      ? [
          `// The primary key (${keyNames}).`,
          'message GetRequest {',
          ...l.keyFields.map((f) => fieldLine(f, true)),
          '}',
          '',
        ]
      : []),
    'message EventRequest {',
    '  // A "$filter" object as JSON text, e.g. {"city": "Berlin"}.',
    '  optional string filter = 1;',
    '  // Replay the retained changes after this version first, then go on live.',
    '  optional uint64 after_version = 2;',
    '}',
    '',
    '// One change. INSERT has `new`, DELETE has `old`, UPDATE both. Under a filter, an update',
    '// into the filter arrives as an INSERT and an update out of it as a DELETE.',
    'message Event {',
    '  .dozer.types.OperationType typ = 1;',
    '  Record old = 2;',
    '  Record new = 3;',
    '  // The endpoint version after this change.',
    '  uint64 version = 4;',
    '}',
    '',
  ];
  return lines.join('\n');
}
