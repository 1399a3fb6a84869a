/**
 * A host lost, as the store sees it: every packet to or from one local TCP port dropped by an nftables table of its
 * own, so that the connection's peer neither answers nor closes, as a machine powered off or cut off would not.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Drops every packet to and from `port` until `restore` is called. Needs CAP_NET_ADMIN (root) and nftables. */
export async function cutPort(port: number): Promise<{ restore(): Promise<void> }> {
  const table = `memshift_cut_${port}`;
  const rules = `table inet ${table} {\n chain input {\n  type filter hook input priority 0;\n  tcp sport ${port} drop\n  tcp dport ${port} drop\n }\n}\n`;
  const nft = run('nft', ['-f', '-']);
  nft.child.stdin!.end(rules);
  await nft;
  return { restore: () => run('nft', ['delete', 'table', 'inet', table]).then(() => undefined) };
}
