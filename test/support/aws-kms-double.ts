// TEST DOUBLE — the only one in this project: no real AWS KMS can run on loopback, so this server speaks its wire protocol for the real AWS SDK client to talk to.
//
// What it implements, as the real service does: the AWS JSON 1.1 protocol (POST /, `X-Amz-Target:
// TrentService.<Operation>`, `Content-Type: application/x-amz-json-1.1`, base64 blobs in JSON), a
// SigV4 `Authorization` header required and checked for form (algorithm, credential scope with
// this region and service `kms`, signed headers, a 64-hex signature; the signature itself is not
// recomputed), GenerateDataKey / Decrypt / Encrypt / ReEncrypt under symmetric keys addressed by
// id, ARN, alias or alias ARN, the encryption context enforced (AES-256-GCM with the canonical
// context as additional data: a missing, extra or different pair fails), key rotation (each key
// has backing versions; a blob names its key and version, so old blobs still decrypt), and
// AWS-shaped errors (`{"__type": …, "message": …}`, 400 for client faults, 500 for its own).
// Switches for the failure cases: throttle the next N requests, deny access, go down (stop
// listening and drop connections) and come back on the same port.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const ACCOUNT = '111122223333';
const MAGIC = Buffer.from('KDB1');
const UUID_BYTES = 36;
const HEADER_BYTES = MAGIC.length + UUID_BYTES + 4; // magic | key id | version (uint32 BE)
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_BODY = 64 * 1024;
const SIGV4 = /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

export interface KmsRequestRecord {
  /** The operation (`GenerateDataKey`, …) or the raw X-Amz-Target when it named none. */
  readonly operation: string;
  readonly status: number;
  /** The error's `__type`, when it failed. */
  readonly error?: string;
  /** The request's EncryptionContext (or SourceEncryptionContext), as sent. */
  readonly context?: Record<string, string>;
}

export interface KmsDouble {
  /** The endpoint for the SDK (`endpoint` option), http://127.0.0.1:<port>. */
  readonly url: string;
  readonly region: string;
  /** The key made at start: its id (a UUID), ARN and alias (`alias/airlock-test`). */
  readonly key: { readonly id: string; readonly arn: string; readonly alias: string };
  /** Every request answered, in order. */
  readonly requests: readonly KmsRequestRecord[];
  /** Requests of one operation answered so far (all when omitted). */
  count(operation?: string): number;
  /** A new symmetric key, with `alias/<alias>` when given. */
  createKey(alias?: string): { id: string; arn: string; alias?: string };
  /** Adds a backing key version to `keyId` (default the start key): new blobs use it, old ones still decrypt. Returns the new version. */
  rotate(keyId?: string): number;
  /** The next `n` requests fail with ThrottlingException (400), whatever they ask. */
  throttle(n: number): void;
  /** While on, every key operation fails with AccessDeniedException (400), as a key policy that denies would. */
  deny(on: boolean): void;
  /** Stops listening and drops every connection: the SDK sees connection refused. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export interface KmsDoubleOptions {
  /** Region of the endpoint; requests signed for another are refused. Default us-east-1. */
  readonly region?: string;
  /** Access key id the double accepts; default any of the right form. */
  readonly accessKeyId?: string;
}

class KmsFault extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

interface Key { readonly id: string; readonly arn: string; readonly versions: Buffer[] }

export async function startKmsDouble(options: KmsDoubleOptions = {}): Promise<KmsDouble> {
  const region = options.region ?? 'us-east-1';
  const keys = new Map<string, Key>();
  const aliases = new Map<string, string>(); // alias/name → key id
  const requests: KmsRequestRecord[] = [];
  let throttled = 0;
  let denied = false;

  const createKey = (alias?: string) => {
    const id = randomUUID();
    const key: Key = { id, arn: `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`, versions: [randomBytes(32)] };
    keys.set(id, key);
    if (alias !== undefined) aliases.set(`alias/${alias}`, id);
    return { id, arn: key.arn, ...(alias === undefined ? {} : { alias: `alias/${alias}` }) };
  };
  const first = createKey('airlock-test');

  /** A key by id, key ARN, alias name or alias ARN; NotFoundException otherwise. */
  const resolveKey = (ref: unknown): Key => {
    if (typeof ref !== 'string' || ref === '') throw new KmsFault('ValidationException', '1 validation error detected: Value null at \'keyId\' failed to satisfy constraint: Member must not be null');
    let id = ref;
    const arn = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/.exec(ref);
    if (arn) id = arn[3]!;
    if (id.startsWith('key/')) id = id.slice(4);
    if (id.startsWith('alias/')) id = aliases.get(id) ?? '';
    const key = keys.get(id);
    if (key === undefined || (arn && (arn[1] !== region || arn[2] !== ACCOUNT))) throw new KmsFault('NotFoundException', `Key '${ref}' does not exist`);
    return key;
  };

  const seal = (key: Key, plaintext: Buffer, context: Record<string, string>): Buffer => {
    const version = key.versions.length - 1;
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.write(key.id, MAGIC.length, 'latin1');
    header.writeUInt32BE(version, MAGIC.length + UUID_BYTES);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.versions[version]!, iv);
    cipher.setAAD(Buffer.concat([header, canonical(context)]));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
  };

  /** The plaintext of a blob and the key that made it; InvalidCiphertextException for anything that does not authenticate. */
  const open = (blob: Buffer, context: Record<string, string>, expected: Key | undefined): { key: Key; plaintext: Buffer } => {
    const invalid = () => new KmsFault('InvalidCiphertextException', 'The ciphertext is invalid, was not made by this key, or its encryption context does not match.');
    if (blob.length < HEADER_BYTES + IV_BYTES + TAG_BYTES + 1 || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw invalid();
    const header = blob.subarray(0, HEADER_BYTES);
    const key = keys.get(header.subarray(MAGIC.length, MAGIC.length + UUID_BYTES).toString('latin1'));
    if (key === undefined) throw invalid();
    if (expected !== undefined && expected.id !== key.id) throw new KmsFault('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
    const material = key.versions[header.readUInt32BE(MAGIC.length + UUID_BYTES)];
    if (material === undefined) throw invalid();
    const decipher = createDecipheriv('aes-256-gcm', material, blob.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAuthTag(blob.subarray(HEADER_BYTES + IV_BYTES, HEADER_BYTES + IV_BYTES + TAG_BYTES));
    decipher.setAAD(Buffer.concat([header, canonical(context)]));
    try {
      return { key, plaintext: Buffer.concat([decipher.update(blob.subarray(HEADER_BYTES + IV_BYTES + TAG_BYTES)), decipher.final()]) };
    } catch {
      throw invalid();
    }
  };

  const operations: Record<string, (input: Record<string, unknown>) => Record<string, unknown>> = {
    GenerateDataKey(input) {
      const key = resolveKey(input.KeyId);
      const bytes = input.KeySpec === 'AES_256' ? 32 : input.KeySpec === 'AES_128' ? 16 : typeof input.NumberOfBytes === 'number' && input.NumberOfBytes >= 1 && input.NumberOfBytes <= 1024 ? input.NumberOfBytes : undefined;
      if (bytes === undefined) throw new KmsFault('ValidationException', 'Please specify either number of bytes or key spec.');
      const plaintext = randomBytes(bytes);
      return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), CiphertextBlob: seal(key, plaintext, contextOf(input.EncryptionContext)).toString('base64') };
    },
    Encrypt(input) {
      const key = resolveKey(input.KeyId);
      const plaintext = blobOf(input.Plaintext, 'plaintext', 4096);
      return { KeyId: key.arn, CiphertextBlob: seal(key, plaintext, contextOf(input.EncryptionContext)).toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    Decrypt(input) {
      const expected = input.KeyId === undefined ? undefined : resolveKey(input.KeyId);
      const { key, plaintext } = open(blobOf(input.CiphertextBlob, 'ciphertextBlob', 6144), contextOf(input.EncryptionContext), expected);
      return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    ReEncrypt(input) {
      const expected = input.SourceKeyId === undefined ? undefined : resolveKey(input.SourceKeyId);
      const destination = resolveKey(input.DestinationKeyId);
      const { key, plaintext } = open(blobOf(input.CiphertextBlob, 'ciphertextBlob', 6144), contextOf(input.SourceEncryptionContext), expected);
      const blob = seal(destination, plaintext, contextOf(input.DestinationEncryptionContext));
      plaintext.fill(0);
      return { SourceKeyId: key.arn, KeyId: destination.arn, CiphertextBlob: blob.toString('base64'), SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
  };

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target;
    let context: Record<string, string> | undefined;
    try {
      if (req.method !== 'POST' || req.url !== '/') throw new KmsFault('UnknownOperationException', 'Only POST / is served.');
      checkSignature(req, region, options.accessKeyId);
      if (throttled > 0) {
        throttled--;
        throw new KmsFault('ThrottlingException', 'Rate exceeded');
      }
      if (String(req.headers['content-type'] ?? '').split(';')[0]!.trim() !== 'application/x-amz-json-1.1') throw new KmsFault('SerializationException', 'Content-Type must be application/x-amz-json-1.1.');
      const op = Object.hasOwn(operations, operation) && target.startsWith('TrentService.') ? operations[operation]! : undefined;
      if (op === undefined) throw new KmsFault('UnknownOperationException', `Unknown operation ${target.slice(0, 80)}`);
      let input: unknown;
      try {
        input = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new KmsFault('SerializationException', 'The request body is not JSON.');
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new KmsFault('SerializationException', 'The request body is not a JSON object.');
      const fields = input as Record<string, unknown>;
      const ctx = fields.EncryptionContext ?? fields.SourceEncryptionContext;
      if (ctx !== undefined && typeof ctx === 'object' && ctx !== null) context = ctx as Record<string, string>;
      if (denied) throw new KmsFault('AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:user/airlock-agent is not authorized to perform: kms:${operation} because no identity-based policy allows the kms:${operation} action`);
      const out = op(fields);
      requests.push({ operation, status: 200, ...(context ? { context } : {}) });
      answer(res, 200, out);
    } catch (err) {
      const fault = err instanceof KmsFault ? err : new KmsFault('KMSInternalException', 'The request was rejected because an internal exception occurred.', 500);
      requests.push({ operation, status: fault.status, error: fault.type, ...(context ? { context } : {}) });
      answer(res, fault.status, { __type: fault.type, message: fault.message });
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let listening = true;

  const stop = () => new Promise<void>((resolve) => {
    if (!listening) return resolve();
    listening = false;
    server.close(() => resolve());
    server.closeAllConnections();
  });

  return {
    url: `http://127.0.0.1:${port}`,
    region,
    key: { id: first.id, arn: first.arn, alias: first.alias! },
    requests,
    count: (operation) => (operation === undefined ? requests.length : requests.filter((r) => r.operation === operation).length),
    createKey,
    rotate(keyId = first.id) {
      const key = resolveKey(keyId);
      key.versions.push(randomBytes(32));
      return key.versions.length - 1;
    },
    throttle(n) {
      throttled = n;
    },
    deny(on) {
      denied = on;
    },
    down: stop,
    up: () => new Promise<void>((resolve, reject) => {
      if (listening) return resolve();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    }),
    close: stop,
  };
}

/** The SigV4 header's form: algorithm, scope (this region, service kms), signed headers including host and x-amz-date, a 64-hex signature. */
function checkSignature(req: IncomingMessage, region: string, accessKeyId: string | undefined): void {
  const header = req.headers.authorization;
  if (header === undefined) throw new KmsFault('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = SIGV4.exec(header);
  if (!m) throw new KmsFault('IncompleteSignatureException', 'Authorization header requires \'Credential\', \'SignedHeaders\' and \'Signature\' parameters, AWS4-HMAC-SHA256.');
  const [, keyId, date, scopeRegion, service, signed] = m;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) throw new KmsFault('IncompleteSignatureException', 'X-Amz-Date is missing or does not match the credential scope\'s date.');
  if (scopeRegion !== region || service !== 'kms') throw new KmsFault('InvalidSignatureException', `Credential should be scoped to a valid region (${region}) and service (kms).`);
  const signedHeaders = signed!.split(';');
  for (const needed of ['host', 'x-amz-date', 'x-amz-target']) {
    if (!signedHeaders.includes(needed)) throw new KmsFault('IncompleteSignatureException', `SignedHeaders must include ${needed}.`);
  }
  if (accessKeyId !== undefined && keyId !== accessKeyId) throw new KmsFault('UnrecognizedClientException', 'The security token included in the request is invalid.');
}

function canonical(context: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(Object.keys(context).sort().map((k) => [k, context[k]])), 'utf8');
}

function contextOf(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new KmsFault('ValidationException', 'EncryptionContext must be a map of strings.');
  }
  return value as Record<string, string>;
}

function blobOf(value: unknown, name: string, max: number): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new KmsFault('ValidationException', `${name} must be base64.`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < 1 || bytes.length > max) throw new KmsFault('ValidationException', `1 validation error detected: Value at '${name}' failed to satisfy constraint: Member must have length between 1 and ${max}`);
  return bytes;
}
