// What the vault holds for a connection, by type, as stored (JSON inside the sealed value) and
// checked on every read. The static types (bearer, basic, header) are sent to the target as
// they are; `jwt-signing-key` signs tokens minted per caller; `oauth-client` obtains tokens at
// the target's token endpoint; `postgres` is the database login of the Postgres data path.
import { z } from 'zod';

/** A header name as HTTP allows it, as `--name` and the config take it. */
export const HEADER_NAME = /^[A-Za-z0-9-]{1,100}$/;

const bearer = z.strictObject({ type: z.literal('bearer'), token: z.string().min(1).max(16_384) });
const basic = z.strictObject({ type: z.literal('basic'), username: z.string().min(1).max(1024), password: z.string().max(1024) });
const header = z.strictObject({ type: z.literal('header'), name: z.string().regex(HEADER_NAME), value: z.string().min(1).max(16_384) });

/** A credential sent to the target as it is; also the form of the config's `credentials:` (development). */
export const staticCredentialSchema = z.discriminatedUnion('type', [bearer, basic, header]);

/** Signature algorithms a minting key may have, by key type (see credentials/jwt.ts). */
export const SIGNING_ALGS = ['EdDSA', 'ES256', 'ES384', 'RS256'] as const;

/** A private JWK (what node:crypto exports): string members only, `d` present. */
const privateJwk = z.record(z.string().regex(/^[a-z]{1,8}$/i), z.string().max(8192))
  .refine((jwk) => Object.keys(jwk).length <= 16 && ['OKP', 'EC', 'RSA'].includes(jwk.kty ?? '') && typeof jwk.d === 'string', 'must be a private OKP, EC or RSA JWK');

export const secretSchema = z.discriminatedUnion('type', [
  bearer, basic, header,
  z.strictObject({ type: z.literal('jwt-signing-key'), alg: z.enum(SIGNING_ALGS), key: privateJwk }),
  z.strictObject({ type: z.literal('oauth-client'), clientId: z.string().min(1).max(1024), clientSecret: z.string().min(1).max(4096) }),
  z.strictObject({ type: z.literal('postgres'), username: z.string().min(1).max(1024), password: z.string().max(1024) }),
]);

export type StaticCredential = z.infer<typeof staticCredentialSchema>;
export type Secret = z.infer<typeof secretSchema>;
export type SecretType = Secret['type'];
export type JwtSigningSecret = Extract<Secret, { type: 'jwt-signing-key' }>;
export type OAuthClientSecret = Extract<Secret, { type: 'oauth-client' }>;
export type PostgresSecret = Extract<Secret, { type: 'postgres' }>;

/** Every type `airlock-agent secrets set --type` accepts. */
export const SECRET_TYPES: readonly SecretType[] = ['bearer', 'basic', 'header', 'jwt-signing-key', 'oauth-client', 'postgres'];
