/**
 * `fastrec serve <model>`: the HTTP service.
 */
import { buildServer, serve, MIN_TOKEN_LENGTH } from '../server/app.js';
import { intOption, parse, UsageError } from './util.js';

export const SERVE_USAGE = `Usage: fastrec serve <model.fastrec> [--port 8080] [--host 127.0.0.1] [--token TOKEN]
                     [--max-k 1000] [--body-limit BYTES] [--log-level info] [--log-requests] [--ann [--ef 64]]

Serves recommendations over HTTP (JSON). Write and admin endpoints (POST /v1/events,
POST /v1/admin/reload) need a bearer token of at least ${MIN_TOKEN_LENGTH} characters, from --token or the
FASTREC_TOKEN environment variable; without one they answer 403.
--ann answers known users' top-k through an HNSW index over the item factors (factor models
such as als; approximate, built at start-up and on reload; --ef trades recall for speed).
Logs are JSON lines (pino): start-up, reloads, errors; --log-requests adds one line per request.
Stop with Ctrl-C or SIGTERM: in-flight requests finish first.`;

export async function runServe(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'max-k': { type: 'string' },
      'body-limit': { type: 'string' },
      'log-level': { type: 'string' },
      ann: { type: 'boolean', default: false },
      'log-requests': { type: 'boolean', default: false },
      ef: { type: 'string' },
    },
    SERVE_USAGE,
  );
  if (values.help) {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one model file', SERVE_USAGE);
  const port = intOption(values, 'port', 8080, 0, 65535, SERVE_USAGE);
  const maxK = intOption(values, 'max-k', 1000, 1, 100_000, SERVE_USAGE);
  const bodyLimit = intOption(values, 'body-limit', 1 << 20, 1024, 1 << 30, SERVE_USAGE);
  const level = String(values['log-level'] ?? 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) throw new UsageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent`, SERVE_USAGE);
  const token = (values.token as string | undefined) ?? process.env.FASTREC_TOKEN;
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(`the token must have at least ${MIN_TOKEN_LENGTH} characters; generate one with: openssl rand -hex 24`, SERVE_USAGE);
  }
  const ann = values.ann ? { ef: intOption(values, 'ef', 64, 1, 10_000, SERVE_USAGE) } : false;
  const app = await buildServer({ modelPath: positionals[0]!, token, maxK, bodyLimit, logger: { level }, ann, logRequests: values['log-requests'] === true });
  if (!token) app.log.warn('no token given (--token or FASTREC_TOKEN): POST /v1/events and /v1/admin/reload are disabled');
  await serve(app, port, String(values.host ?? '127.0.0.1'));
  // Keep running until a signal closes the server.
  await new Promise<void>((resolve) => app.server.once('close', () => resolve()));
  return 0;
}
