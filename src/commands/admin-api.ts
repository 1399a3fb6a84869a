/** A running proxy's admin API as the commands call it: one request with the bearer token, its errors in plain words. */

/**
 * `method path` on the proxy at `proxyUrl` with `token` (default $MEMSHIFT_ADMIN_TOKEN); the JSON body of its answer, or
 * an error that says what to do.
 */
export async function adminRequest<T>(proxyUrl: string, token: string | undefined, path: string, method: 'GET' | 'POST' = 'GET'): Promise<T> {
  const url = proxyUrl.replace(/\/+$/, '');
  token ??= process.env.MEMSHIFT_ADMIN_TOKEN;
  const res = await fetch(`${url}/admin${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const body = (await res.json().catch(() => null)) as (T & { status?: string; message?: string }) | null;
  // memshift's own refusals say `status: error`; a 404 without one is a route not registered: no admin token there.
  const own = body?.status === 'error' ? `: ${body.message}` : '';
  if (res.status === 404 && !own) throw new Error(`${url} has no admin API (no admin token configured there)`);
  if (!res.ok || body === null)
    throw new Error(`${url}/admin${path}: HTTP ${res.status}${own}${res.status === 401 ? ' (give --token or MEMSHIFT_ADMIN_TOKEN)' : ''}`);
  return body;
}
