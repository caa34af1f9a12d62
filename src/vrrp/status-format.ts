// `warren status`: the vrrp daemon's status document as text for a terminal. Pure.

import type { DaemonStatus, InstanceStatus } from './status.js';

function table(rows: string[][], indent: string): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function instanceLines(i: InstanceStatus): string[] {
  const out: string[] = [];
  const prio = i.effective_priority === i.priority ? `priority ${i.priority}` : `priority ${i.priority}, effective ${i.effective_priority}`;
  out.push(`${i.name}: ${i.state}${i.reason ? ` (${i.reason})` : ''} since ${i.since}`);
  out.push(`  vrid ${i.vrid} on ${i.interface} from ${i.address}, ${prio}, advert every ${i.advert_int_ms} ms`);
  out.push(`  VIPs: ${i.vips.join(', ')} ${i.vips_held ? '(held here)' : '(not here)'}`);
  out.push(`  master: ${i.master === null ? 'unknown' : i.master === i.address ? `${i.master} (this host)` : i.master}`);
  if (i.trackers.length > 0) {
    out.push('  trackers:');
    out.push(
      ...table(
        i.trackers.map((t) => [t.name, t.status, `weight ${t.weight}`, `${t.last_detail ?? '-'} (${t.checks} checks, ${t.failures} failed)`]),
        '    ',
      ),
    );
  }
  out.push(i.peers.length > 0 ? '  peers (last message heard):' : '  peers: none heard');
  out.push(...table(i.peers.map((p) => [p.address, p.state, `priority ${p.priority}`, p.last_seen]), '    '));
  const c = i.counters;
  const dropped = Object.entries(c.dropped)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  out.push(`  adverts: ${c.advertsReceived} received, ${c.advertsSent} sent; standby: ${c.standbysReceived} received, ${c.standbysSent} sent; dropped: ${dropped || 'none'}`);
  return out;
}

export function formatStatus(s: DaemonStatus): string {
  const lines = [`warren vrrp${s.router_id ? ` ${s.router_id}` : ''}: pid ${s.pid}, started ${s.started}, ${s.config}`];
  for (const i of s.instances) lines.push('', ...instanceLines(i));
  const t = s.transport;
  lines.push('', `udp port ${t.port}: ${t.received} datagrams received, ${t.sent} sent, ${t.send_errors} send errors, ${t.unknown_vrid} not ours`);
  return lines.join('\n') + '\n';
}
