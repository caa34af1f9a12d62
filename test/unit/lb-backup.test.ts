// The active/backup rule shared by every algorithm (src/proxy/lb/eligible.ts): backups take
// traffic only when no active server is usable (UP, admin ready, weight > 0); then only the first
// usable backup in declaration order, or all usable backups with `option allbackups`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BalanceAlgorithm } from '../../src/config/types.js';
import { Eligibility } from '../../src/proxy/lb/eligible.js';
import { createBalancer, type LbServer } from '../../src/proxy/lb/index.js';
import { sequence, simServers } from '../../src/proxy/lb/sim.js';

const algos: BalanceAlgorithm[] = ['roundrobin', 'static-rr', 'leastconn', 'first', 'source'];
const specs = () => [{ name: 's1' }, { name: 's2' }, { name: 'b1', backup: true }, { name: 'b2', backup: true }, { name: 'b3', backup: true }];
const keys = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.9.8.7', '192.0.2.1', '2001:db8::5'];

for (const algo of algos) {
  for (const hashType of algo === 'source' ? (['map-based', 'consistent'] as const) : (['map-based'] as const)) {
    const label = algo === 'source' ? `${algo}/${hashType}` : algo;

    test(`${label}: no backup is used while an active server is usable`, () => {
      const servers = simServers(specs());
      const b = createBalancer(algo, hashType, servers, { allbackups: true });
      servers[0]!.usable = false;
      b.update();
      for (const k of keys) for (const n of sequence(b, 5, k)) assert.equal(n, 's2');
    });

    test(`${label}: only the first usable backup without allbackups`, () => {
      const servers = simServers(specs());
      const b = createBalancer(algo, hashType, servers, { allbackups: false });
      servers[0]!.usable = false;
      servers[1]!.weight = 0; // weight 0 is not usable either
      b.update();
      for (const k of keys) for (const n of sequence(b, 5, k)) assert.equal(n, 'b1');
      servers[2]!.usable = false;
      b.update();
      for (const k of keys) for (const n of sequence(b, 5, k)) assert.equal(n, 'b2');
      servers[2]!.usable = true; // b1 is back and comes first again
      b.update();
      for (const k of keys) for (const n of sequence(b, 5, k)) assert.equal(n, 'b1');
      servers[1]!.weight = 1; // an active server is back
      b.update();
      for (const k of keys) for (const n of sequence(b, 5, k)) assert.equal(n, 's2');
    });

    test(`${label}: allbackups uses every usable backup`, () => {
      const servers = simServers(specs());
      const b = createBalancer(algo, hashType, servers, { allbackups: true });
      servers[0]!.usable = false;
      servers[1]!.usable = false;
      servers[3]!.usable = false;
      b.update();
      const seen = new Set<string | null>();
      const name = (s: LbServer | null) => (s ? servers[s.index]!.name : null);
      if (algo === 'source') for (let i = 0; i < 200; i++) seen.add(name(b.pick(`10.1.${i >> 8}.${i & 255}`, null)));
      else if (algo === 'first') {
        seen.add(name(b.pick('x', null)));
        seen.add(name(b.pick('x', servers[2]!)));
      } else for (const n of sequence(b, 10)) seen.add(n);
      assert.deepEqual([...seen].sort(), ['b1', 'b3']);
    });
  }
}

test('Eligibility: modes and counts', () => {
  const servers = simServers(specs());
  const el = new Eligibility(servers, false);
  assert.equal(el.mode, 'active');
  assert.equal(el.activeCount, 2);
  assert.equal(el.backupCount, 3);
  assert.ok(el.inService(servers[0]!) && !el.inService(servers[2]!));
  servers[0]!.usable = false;
  servers[1]!.usable = false;
  el.refresh();
  assert.equal(el.mode, 'first-backup');
  assert.equal(el.firstBackup, servers[2]);
  assert.ok(el.inService(servers[2]!) && !el.inService(servers[3]!));
  const all = new Eligibility(servers, true);
  assert.equal(all.mode, 'backups');
  assert.equal(all.firstBackup, null);
  assert.ok(all.inService(servers[3]!));
  for (const s of servers) s.usable = false;
  el.refresh();
  assert.equal(el.mode, 'none');
});
