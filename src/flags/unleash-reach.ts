/** Whether an Unleash server answers its client API with a token, and why not, in words an operator can act on. */
import { unleashServerBase } from '../admin/unleash-admin.js';

/**
 * undici's fetch fails with "fetch failed" and the reason in its cause (a refused connection, a certificate no CA
 * known here signed): both said, and for a certificate, how to trust a private CA.
 */
export function failureOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  const text = parts.join(': ') || String(err);
  return /certificate|self.signed|CERT_/i.test(text) ? `${text} (a private CA: NODE_EXTRA_CA_CERTS=/path/ca.pem for memshift's process)` : text;
}

/** Why `url`'s client API does not answer with `token` (undefined: it does). */
export async function unleashUnreached(url: string, token: string | undefined, timeoutMs: number): Promise<string | undefined> {
  let res: Response;
  try {
    res = await fetch(`${unleashServerBase(url)}/api/client/features`, {
      headers: token ? { authorization: token } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    return failureOf(err);
  }
  await res.body?.cancel();
  if (res.status === 401 || res.status === 403)
    return `HTTP ${res.status}: flags.apiToken (UNLEASH_API_TOKEN) must be a client token of this project and environment`;
  return res.ok ? undefined : `HTTP ${res.status}`;
}
