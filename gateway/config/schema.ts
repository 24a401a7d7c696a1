// The gateway's configuration: one zod schema, defaults in one place, unknown keys rejected.
// deploy/airlock.example.yaml documents every option; test/gateway/config/schema.test.ts checks
// that the example parses and names every option the schema has.
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const seconds = (max: number) => z.number().min(0).max(max);

/** OTEL_EXPORTER_OTLP_HEADERS: `name=value` pairs, names HTTP tokens, values without control characters or commas. */
const OTLP_HEADERS = /^$|^[!#$%&'*+.^_`|~0-9A-Za-z-]+=[^,\x00-\x1f\x7f]*(,[!#$%&'*+.^_`|~0-9A-Za-z-]+=[^,\x00-\x1f\x7f]*)*$/;

export const ROLES = ['admin', 'reviewer', 'auditor', 'user'] as const;
export type Role = (typeof ROLES)[number];

export const configSchema = z.strictObject({
  server: z.strictObject({
    /** Listen address. Default 127.0.0.1; anything else without TLS in front starts with a warning. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Listen port. Default 8080; 0 picks a free port (tests). */
    port: port.default(8080),
    /** URL clients use to reach the gateway (metadata, links). Default http://localhost:<port>. */
    publicUrl: z.url().optional(),
    /** Seconds in-flight requests get to finish on SIGTERM/SIGINT before they are cut. Default 10. */
    shutdownGrace: seconds(600).default(10),
    /** Largest request body the gateway reads, in bytes. Default 10 MiB. */
    maxBodyBytes: z.number().int().min(1024).max(1024 ** 3).default(10 * 1024 * 1024),
    /** Seconds to receive the request headers (slowloris guard). Default 15. */
    headersTimeout: seconds(300).default(15),
    /** Seconds a keep-alive connection may sit idle. Default 5. */
    keepAliveTimeout: seconds(300).default(5),
    /** Set when TLS is terminated in front of the gateway; silences the plain-HTTP warning. */
    behindTls: z.boolean().default(false),
    /**
     * What callers may hold of the gateway process (gateway/http/budget.ts): timeouts on every
     * request, and caps per identity and in total. Past a per-identity cap: 429
     * GW_TOO_MANY_REQUESTS; past a total: 503 GW_OVERLOADED; both with Retry-After.
     */
    limits: z.strictObject({
      /** Seconds to receive a whole request (headers and body; not the answer); 0: none. Default 300. Must be at least headersTimeout. */
      requestTimeout: seconds(86_400).default(300),
      /** Seconds a request body may pause before it is cut (408 GW_BODY_TIMEOUT); 0: none. Default 30 (nginx's client_body_timeout is 60). */
      bodyIdleTimeout: seconds(3600).default(30),
      /** Slowest average rate of a request body once minBodyRateGrace is over, bytes per second (408 GW_BODY_TIMEOUT); 0: none. Default 1024. */
      minBodyBytesPerSecond: z.number().int().min(0).max(1024 ** 3).default(1024),
      /** Seconds a body may take before its rate is checked. Default 5 (Kestrel's grace period). */
      minBodyRateGrace: seconds(3600).default(5),
      /** Requests and open WebSockets in flight on this gateway. Default 4096. */
      maxConcurrent: z.number().int().min(1).max(1_000_000).default(4096),
      /** Requests and open WebSockets in flight for one identity. Default 64 (twice mcp.maxSessionsPerIdentity: a session may hold a stream open). */
      maxConcurrentPerIdentity: z.number().int().min(1).max(1_000_000).default(64),
      /** Body bytes (requests and answers being inspected) held in memory by all requests. Default 256 MiB. */
      maxInFlightBodyBytes: z.number().int().min(1024 * 1024).max(64 * 1024 ** 3).default(256 * 1024 * 1024),
      /** Body bytes held in memory by one identity's requests: at least the largest body a connection takes or returns whole (its maxRequestBytes, maxResponseBytes: 50 MiB by default). Default 64 MiB. */
      maxInFlightBodyBytesPerIdentity: z.number().int().min(1024 * 1024).max(64 * 1024 ** 3).default(64 * 1024 * 1024),
    }).prefault({}),
  }).superRefine((server, ctx) => {
    if (server.limits.requestTimeout > 0 && server.limits.requestTimeout < server.headersTimeout) {
      ctx.addIssue({ code: 'custom', path: ['limits', 'requestTimeout'], message: `must be 0 or at least server.headersTimeout (${server.headersTimeout})` });
    }
    if (server.limits.maxInFlightBodyBytesPerIdentity > server.limits.maxInFlightBodyBytes) {
      ctx.addIssue({ code: 'custom', path: ['limits', 'maxInFlightBodyBytesPerIdentity'], message: 'must not be larger than server.limits.maxInFlightBodyBytes' });
    }
  }).prefault({}),
  store: z.strictObject({
    /** `sqlite:<path>` (embedded default) or `postgres://user:pass@host:port/db`. */
    url: z.string().min(1).default('sqlite:./data/airlock.db'),
  }).prefault({}),
  log: z.strictObject({
    /** debug | info | warn | error. Default info. */
    level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  }).prefault({}),
  auth: z.strictObject({
    /** The OpenID Connect issuer URL, exactly as in its discovery document. Unset: no user can authenticate. */
    issuer: z.url().optional(),
    /** Audience the access tokens must name (`aud`). Default: the gateway's public URL. */
    audience: z.string().min(1).optional(),
    /** Accepted JWS algorithms. Default RS256, PS256, ES256, EdDSA. */
    algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    /** Allowed clock skew in seconds. Default 30, at most 120. */
    clockSkew: seconds(120).default(30),
    /** Require RFC 9068 `typ: at+jwt` access tokens. Default false. */
    requireAtJwt: z.boolean().default(false),
    /** Claim that carries the user's groups. Default `groups`. */
    groupsClaim: z.string().min(1).default('groups'),
    /** Role → groups that hold it. `*` means every authenticated user. */
    roles: z.strictObject({
      admin: z.array(z.string().min(1)).default(['admins']),
      reviewer: z.array(z.string().min(1)).default(['admins', 'reviewers']),
      auditor: z.array(z.string().min(1)).default(['admins', 'auditors']),
      user: z.array(z.string().min(1)).default(['*']),
    }).prefault({}),
    /** Scopes every access token must carry; a token without them gets 403 insufficient_scope. Default none. */
    requiredScopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token (RFC 6749 §3.3)')).default([]),
    /** OAuth client id of the `airlock` CLI at the identity provider (public client). Default airlock-cli. */
    cliClientId: z.string().min(1).default('airlock-cli'),
    jwks: z.strictObject({
      /** Seconds between two JWKS refetches triggered by an unknown `kid`. Default 30. */
      cooldown: seconds(3600).default(30),
      /** Seconds cached keys stay usable while the identity provider is unreachable. Default 600. */
      maxAge: seconds(86400).default(600),
    }).prefault({}),
    introspection: z.strictObject({
      /** Accept opaque tokens through RFC 7662 introspection. Default false. */
      enabled: z.boolean().default(false),
      clientId: z.string().optional(),
      /** Prefer AIRLOCK_AUTH_INTROSPECTION_CLIENT_SECRET over writing it in the file. */
      clientSecret: z.string().optional(),
      /** Seconds an introspection answer is cached. Default 30. */
      cacheTtl: seconds(300).default(30),
    }).prefault({}),
  }).prefault({}),
  policy: z.strictObject({
    /** Policy packs from policies/ that apply to every connection, before the connection's own (policy.packs, default [default]). Default []. */
    packs: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/)).default([]),
    /** Extra policy files (YAML), reloaded when they change. */
    files: z.array(z.string().min(1)).default([]),
    /** Seconds between checks of policy files for changes. Default 2; 0 = never reload. */
    reloadInterval: z.number().min(0).max(3600).default(2),
    /**
     * Key of the `hash` masking strategy, base64, at least 16 bytes: equal values give equal
     * tokens under one key. Unset: a random key per start (tokens change on restart; warned).
     */
    maskKey: z.string().regex(/^[A-Za-z0-9+/=_-]{22,}$/, 'base64 of at least 16 bytes').optional(),
  }).prefault({}),
  agents: z.strictObject({
    /** Seconds an enrollment token from `airlock agents add` stays usable. Default 900 (15 min); 60–86400. */
    enrollmentTtl: z.number().int().min(60).max(86_400).default(900),
    /** Seconds between two checks of each connected agent against the store (revoked through another replica: its tunnels close) and last-seen writes. Default 30. */
    presenceInterval: z.number().min(1).max(3600).default(30),
    /** Seconds between tunnel pings to an agent; 0 disables them. Default 15. */
    pingInterval: seconds(3600).default(15),
    /** Seconds a ping may go unanswered before the tunnel is dropped. Default 10. */
    pingTimeout: z.number().min(0.01).max(3600).default(10),
    /** Tunnels one agent may hold to this gateway at once; one more is refused (429). Default 8. */
    maxTunnelsPerAgent: z.number().int().min(1).max(64).default(8),
  }).prefault({}),
  /**
   * Several replicas on one PostgreSQL store (gateway/cluster/DESIGN.md): the internal listener
   * over which a replica without an agent's tunnel relays the already-judged stream to the
   * replica that has one. Off unless `port` is set; never expose it to callers.
   */
  cluster: z.strictObject({
    /** Port of the internal listener; 0 = no listener, no relay (agents then need a tunnel to every replica). Default 0. */
    port: port.default(0),
    /** Address the internal listener binds. Default 127.0.0.1; a pod IP or 0.0.0.0 on a private network. */
    host: z.string().min(1).default('127.0.0.1'),
    /** How the other replicas reach this one's listener (http://host:port). Default http://<host>:<port>. */
    url: z.url({ protocol: /^http$/, error: 'an http:// URL (the internal listener speaks plain HTTP: keep it on a private network)' }).optional(),
    /**
     * The secret every replica shares, at least 32 characters (e.g. 32 random bytes in base64):
     * replicas prove to each other that they hold it (HMAC-SHA256, both directions). Required with
     * `port`. Set it through AIRLOCK_CLUSTER_SECRET, not in a file others read.
     */
    secret: z.string().min(32, 'at least 32 characters (32 random bytes in base64: openssl rand -base64 32)').optional(),
    /** Seconds between presence heartbeats; a replica silent for 3 of them is gone. Default 1. */
    heartbeat: z.number().min(0.1).max(60).default(1),
  }).prefault({}).refine((c) => c.port === 0 || c.secret !== undefined, { message: 'cluster.port needs cluster.secret (AIRLOCK_CLUSTER_SECRET): the internal listener must authenticate its peers', path: ['secret'] }),
  connections: z.strictObject({
    /**
     * Seconds between two reads of the connections from the store: how soon a change made through
     * another gateway replica applies here (changes made through this gateway apply at once).
     * Default 5; at least 0.1, at most 3600.
     */
    reloadInterval: z.number().min(0.1).max(3600).default(5),
    /**
     * Seconds between two reads of the store's config epoch (one row, bumped by every connection,
     * API key and agent change): how soon a change made through another replica reaches this
     * gateway's open sessions. Default 1; at least 0.05, at most 60.
     */
    epochInterval: z.number().min(0.05).max(60).default(1),
  }).prefault({}),
  recording: z.strictObject({
    /**
     * Ed25519 private key (PKCS#8 PEM) that signs recording checkpoints; created with mode 0600
     * when missing. Unset: a key for this process only (warned: its checkpoints cannot be verified
     * after a restart).
     */
    keyFile: z.string().min(1).optional(),
    /** ISO 8601: signatures by keyFile's key dated before this are refused by verifiers (set it when rotating). Default none. */
    keyNotBefore: z.iso.datetime({ offset: true }).optional(),
    /**
     * Keys that signed before a rotation, published at /api/v1/recording-key so old sessions still
     * verify: each a file (Ed25519 PEM, private or public; JWK or JWKS JSON), a directory (its
     * *.pem, *.jwk, *.json files), or { file, notBefore, notAfter } with the key's validity
     * (ISO 8601; a retired key's signatures dated after notAfter are refused). Default none.
     */
    retiredKeys: z.array(z.union([z.string().min(1), z.strictObject({
      file: z.string().min(1),
      notBefore: z.iso.datetime({ offset: true }).optional(),
      notAfter: z.iso.datetime({ offset: true }).optional(),
    })])).max(100).default([]),
    /** Seconds without a request after which an HTTP session ends. Default 300 (5 min). */
    httpIdle: z.number().min(1).max(86_400).default(300),
    /** A signed checkpoint every this many events of a session, and at its end. Default 100. */
    checkpointEvery: z.number().int().min(1).max(100_000).default(100),
    /** Event bodies larger than this (bytes) are split into chunk events. Default 262144 (256 KiB). */
    chunkBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024),
    /** Event bodies larger than this (bytes) are not recorded; the event says truncated. Default 8 MiB. */
    maxEventBytes: z.number().int().min(1024).max(1024 ** 3).default(8 * 1024 * 1024),
    /** Body bytes recorded per session, after which bodies are dropped (truncated). Default 256 MiB. */
    maxSessionBytes: z.number().int().min(1024).max(64 * 1024 ** 3).default(256 * 1024 * 1024),
    /** Seconds between this gateway's heartbeats; a gateway silent for 3 of them is gone and its open sessions are marked incomplete. Default 10. */
    heartbeat: z.number().min(0.1).max(3600).default(10),
    /** Seconds between retention purges (per-connection recording.retentionDays). Default 3600. */
    purgeInterval: z.number().min(1).max(86_400 * 7).default(3600),
  }).prefault({}),
  reviews: z.strictObject({
    /** Where reviewers are told about a new review: Slack incoming webhooks, Teams webhooks, or generic JSON. Default none. */
    webhooks: z.array(z.strictObject({
      type: z.enum(['slack', 'teams', 'json']),
      /** The webhook URL (an incoming-webhook URL is a secret: prefer keeping this file private). */
      url: z.url({ protocol: /^https?$/ }),
    })).max(20).default([]),
    /** Delivery attempts per webhook before giving up (exponential backoff from 1 s). Default 5. */
    webhookAttempts: z.number().int().min(1).max(20).default(5),
    /** Seconds to wait for a webhook to answer. Default 5. */
    webhookTimeout: z.number().min(0.1).max(60).default(5),
    /** Seconds between checks of the store for decisions made through another replica. Default 1. */
    pollInterval: z.number().min(0.05).max(60).default(1),
  }).prefault({}),
  mcp: z.strictObject({
    /** Browser origins allowed to call /mcp besides the gateway's own (DNS-rebinding protection); requests without Origin are not browsers. Default []. */
    allowedOrigins: z.array(z.url()).max(50).default([]),
    /** When a new upstream tool is shown: `first-use` (pinned the first time it is seen) or `approval` (after `airlock tools approve`). Default first-use. */
    pinMode: z.enum(['first-use', 'approval']).default('first-use'),
    /** Suspicious upstream tool descriptions. */
    descriptions: z.strictObject({
      /** Zero-width, bidi or tag characters: `strip` them (default) or `block` (hide the tool). */
      hiddenUnicode: z.enum(['strip', 'block']).default('strip'),
      /** Text addressed to the model ("ignore previous instructions", <IMPORTANT>…): `block` (hide the tool, default) or `flag` (show it; recorded). */
      instructionText: z.enum(['block', 'flag']).default('block'),
    }).prefault({}),
    /** Above this many tools, /mcp (all connections) exposes only search_tools, describe_tool and call_tool. Default 40. */
    aggregateToolLimit: z.number().int().min(1).max(10_000).default(40),
    /** Seconds an MCP session may stay unused before the gateway closes it. Default 1800. */
    sessionIdle: z.number().min(1).max(86_400).default(1800),
    /** MCP sessions one identity may hold open at once on this gateway. Default 32. */
    maxSessionsPerIdentity: z.number().int().min(1).max(1000).default(32),
  }).prefault({}),
  console: z.strictObject({
    /** Serve the web console at /console. Default true. */
    enabled: z.boolean().default(true),
    /** OAuth client id of the console at the identity provider (a web client; redirect URI <publicUrl>/console/callback). Default airlock-console. */
    clientId: z.string().min(1).default('airlock-console'),
    /** The console client's secret when the provider holds it as a confidential client; prefer AIRLOCK_CONSOLE_CLIENT_SECRET. Default none (public client, PKCE only). */
    clientSecret: z.string().min(1).optional(),
    /** Seconds a console sign-in lasts at most, whatever the tokens allow. Default 43200 (12 h). */
    sessionTtl: z.number().int().min(60).max(7 * 86400).default(43_200),
  }).prefault({}),
  postgres: z.strictObject({
    /** Runs the PostgreSQL wire-protocol listener (gateway/postgres/). Default false; `airlock dev` turns it on. */
    enabled: z.boolean().default(false),
    /** Listen address. Default 127.0.0.1. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Listen port; 0 picks a free one. Default 15432. */
    port: port.default(15432),
    /** TLS for `sslmode=require`: PEM files of the certificate (chain) and its key. Without it, clients off loopback are refused unless allowPlaintext. */
    tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    /** Take a token as password in plaintext from clients off loopback (TLS ends in front of the gateway). Default false. */
    allowPlaintext: z.boolean().default(false),
    /** Largest message a client may send, in bytes (a Query, a Bind with its values, a CopyData). Default 8 MiB. */
    maxMessageBytes: z.number().int().min(64 * 1024).max(1024 ** 3).default(8 * 1024 * 1024),
    /** Seconds a client has to log in once connected. Default 30. */
    startupTimeout: seconds(600).default(30),
    /** Sessions one identity may hold open at once on this gateway (each holds a database connection). Default 16. */
    maxSessionsPerIdentity: z.number().int().min(1).max(1000).default(16),
  }).prefault({}),
  metrics: z.strictObject({
    /** Count requests, stages, the recorder, tunnels, reviews and limits for Prometheus (docs/observability.md). Default true. */
    enabled: z.boolean().default(true),
    /** Port of a separate listener that serves only GET /metrics, without authentication. Unset (default): no separate listener. */
    port: port.optional(),
    /** Address of that listener. Default 127.0.0.1; anything else starts with a warning (the numbers are not secret, but are not for everyone). */
    host: z.string().min(1).default('127.0.0.1'),
    /** Also serve GET /metrics on the main listener, to admins only (bearer token or API key with the admin role). Default true. */
    adminRoute: z.boolean().default(true),
  }).prefault({}),
  tracing: z.strictObject({
    /** Export OpenTelemetry traces (a span per request and per stage) over OTLP/HTTP. Default false. */
    enabled: z.boolean().default(false),
    /** The `service.name` of the spans. Default airlock-gateway. */
    serviceName: z.string().min(1).max(200).default('airlock-gateway'),
    /** Share of new traces kept, 0 to 1. Default 1 (every trace). */
    sampleRatio: z.number().min(0).max(1).default(1),
    /**
     * Take a caller's W3C traceparent as the parent of the request's span (its sampling decision
     * too). Default false: every request starts a new trace, and a caller's trace headers never
     * reach a target (the gateway writes its own traceparent).
     */
    trustIncoming: z.boolean().default(false),
    otlp: z.strictObject({
      /** The OTLP/HTTP traces URL, path included (a collector's is http://127.0.0.1:4318/v1/traces). Required when tracing is enabled. */
      endpoint: z.url({ protocol: /^https?$/ }).optional(),
      /**
       * Headers sent with every export, as OTEL_EXPORTER_OTLP_HEADERS writes them: `name=value`
       * pairs separated by commas, values percent-encoded (an API key: prefer
       * AIRLOCK_TRACING_OTLP_HEADERS over the file). Default none.
       */
      headers: z.string().max(8192).regex(OTLP_HEADERS, 'name=value pairs separated by commas (e.g. x-honeycomb-team=KEY)').default(''),
      /** Seconds an export may take before it is dropped. Default 10. */
      timeout: z.number().min(0.1).max(120).default(10),
    }).prefault({}),
  }).superRefine((tracing, ctx) => {
    if (tracing.enabled && tracing.otlp.endpoint === undefined) ctx.addIssue({ code: 'custom', path: ['otlp', 'endpoint'], message: 'is required when tracing.enabled is true' });
  }).prefault({}),
  dev: z.strictObject({
    /** Set by `airlock dev` and deploy/compose/: the issuer is the embedded development identity provider (a plain http:// issuer is then accepted on any host). Never set this in production. Default false. */
    embeddedIdp: z.boolean().default(false),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
