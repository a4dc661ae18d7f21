/**
 * JSON schemas for every request and response of the service. Fastify
 * validates requests with them (400 on a mismatch) and serializes responses
 * with compiled stringifiers.
 */
const id = { anyOf: [{ type: 'string', minLength: 1, maxLength: 256 }, { type: 'number' }] } as const;
/** A comma-separated id list in a query string, or an array in a JSON body. */
const idListQuery = { type: 'string', maxLength: 16_384 } as const;
const idListBody = { type: 'array', items: id, maxItems: 10_000 } as const;
const context = { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9_.:-]*$' } as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

export const recommendQuery = (maxK: number) =>
  ({
    type: 'object',
    additionalProperties: false,
    properties: {
      k: { type: 'integer', minimum: 1, maximum: maxK },
      filterSeen: { type: 'boolean' },
      exclude: idListQuery,
      include: idListQuery,
      context,
    },
  }) as const;

export const similarQuery = (maxK: number) =>
  ({
    type: 'object',
    additionalProperties: false,
    properties: { k: { type: 'integer', minimum: 1, maximum: maxK } },
  }) as const;

export const visitorBody = (maxK: number) =>
  ({
    type: 'object',
    additionalProperties: false,
    properties: {
      items: {
        type: 'array',
        maxItems: 1000,
        items: {
          anyOf: [
            id,
            {
              type: 'object',
              additionalProperties: false,
              required: ['item'],
              properties: { item: id, value: { type: 'number', minimum: 0, maximum: 1e6 } },
            },
          ],
        },
      },
      basket: { type: 'array', maxItems: 500, items: id },
      k: { type: 'integer', minimum: 1, maximum: maxK },
      filterSeen: { type: 'boolean' },
      exclude: idListBody,
      include: idListBody,
      context,
    },
  }) as const;

export const eventsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['events'],
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['user', 'item'],
        properties: {
          user: id,
          item: id,
          value: { type: 'number', minimum: 0, maximum: 1e6 },
          type: { type: 'string', maxLength: 64 },
          timestamp: { anyOf: [{ type: 'number' }, { type: 'string', maxLength: 64 }] },
        },
      },
    },
  },
} as const;

export const reloadBody = {
  anyOf: [
    { type: 'null' },
    { type: 'object', additionalProperties: false, properties: { path: { type: 'string', minLength: 1, maxLength: 4096 } } },
  ],
} as const;

// Responses: a type list, not anyOf, so fast-json-stringify picks by typeof instead of running a validator per item.
const itemScore = {
  type: 'object',
  properties: { item: { type: ['string', 'number'] }, score: { type: 'number' } },
} as const;

export const recommendations = {
  type: 'object',
  properties: {
    user: { type: 'string' },
    item: { type: 'string' },
    model: { type: 'string' },
    context: { type: 'string' },
    items: { type: 'array', items: itemScore },
  },
} as const;

export const eventsResult = {
  type: 'object',
  properties: { accepted: { type: 'integer' }, ignored: { type: 'integer' }, unknownItems: { type: 'array', items: id } },
} as const;

export const health = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    model: {
      type: 'object',
      properties: {
        kind: { type: 'string' },
        path: { type: 'string' },
        loadedAt: { type: 'string' },
        users: { type: ['integer', 'null'] },
        items: { type: ['integer', 'null'] },
        scoring: { type: 'string' },
        index: { type: ['string', 'null'] },
      },
    },
    liveUsers: { type: 'integer' },
    pid: { type: 'integer' },
    /** In a reload's answer: the processes now serving the new model (serve --workers N). */
    workers: { type: 'integer' },
  },
} as const;
