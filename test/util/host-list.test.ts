/** libpq's host lists as memshift reads them: both URL forms, ports per host or one for all, and refusals libpq makes too. */
import { expect, it } from 'vitest';
import { hostList } from '../../src/util/host-list.js';

it('reads a list in the authority, with a port each, IPv6 in brackets, and the first host alone for node-postgres', () => {
  expect(hostList('postgres://u:p%40@db1:5432,[::1]:5433,db3/memshift?target_session_attrs=read-write', {})).toEqual({
    url: 'postgres://u:p%40@db1:5432/memshift?target_session_attrs=read-write',
    hosts: [
      { host: 'db1', port: 5432 },
      { host: '::1', port: 5433 },
      { host: 'db3', port: 5432 },
    ],
    attrs: 'read-write',
  });
});

it('reads a list in the query, one port for all or one per host, PGPORT as the default', () => {
  expect(hostList('postgres://u@/memshift?host=db1,db2&port=6432', {}).hosts).toEqual([
    { host: 'db1', port: 6432 },
    { host: 'db2', port: 6432 },
  ]);
  expect(hostList('postgres://u@/memshift?host=db1,db2&port=6432,6433', {})).toMatchObject({
    url: 'postgres://u@/memshift?host=db1&port=6432',
    hosts: [
      { host: 'db1', port: 6432 },
      { host: 'db2', port: 6433 },
    ],
  });
  expect(hostList('postgres://u@db1,db2/memshift', { PGPORT: '7000' }).hosts).toEqual([
    { host: 'db1', port: 7000 },
    { host: 'db2', port: 7000 },
  ]);
});

it('leaves a URL naming one host as it is, and refuses what libpq refuses', () => {
  expect(hostList('postgres://u@db1:5432/memshift', {})).toEqual({ url: 'postgres://u@db1:5432/memshift', hosts: undefined, attrs: 'any' });
  expect(() => hostList('postgres://u@/memshift?host=a,b,c&port=1,2', {})).toThrow(/3 hosts but 2 ports/);
  expect(() => hostList('postgres://u@a,b/memshift?target_session_attrs=writable', {})).toThrow(/target_session_attrs "writable"/);
});
