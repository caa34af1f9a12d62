// Which servers take traffic: HAProxy's active/backup rule (recount_servers + update_backend_weight).
//
// - While at least one active (non-backup) server is usable, only active servers are balanced.
// - When none is, the backups take over: only the first usable backup in declaration order, or
//   all usable backups with `option allbackups`.
// - A server is usable for load balancing when it is UP/admin-ready and its weight is > 0.

import { isEligible, type LbServer } from './types.js';

export type EligibleMode = 'active' | 'first-backup' | 'backups' | 'none';

export class Eligibility {
  /** Number of usable active servers (HAProxy's srv_act). */
  activeCount = 0;
  /** Number of usable backup servers (HAProxy's srv_bck). */
  backupCount = 0;
  /** The first usable backup, when `allbackups` is off (HAProxy's fbck). */
  firstBackup: LbServer | null = null;
  mode: EligibleMode = 'none';

  constructor(
    private readonly servers: readonly LbServer[],
    private readonly allbackups: boolean,
  ) {
    this.refresh();
  }

  /** Recount from the servers' current state. O(n). */
  refresh(): void {
    let act = 0;
    let bck = 0;
    let fbck: LbServer | null = null;
    for (const s of this.servers) {
      if (!isEligible(s)) continue;
      if (s.backup) {
        if (bck === 0 && !this.allbackups) fbck = s;
        bck++;
      } else {
        act++;
      }
    }
    this.activeCount = act;
    this.backupCount = bck;
    this.firstBackup = fbck;
    this.mode = act > 0 ? 'active' : fbck ? 'first-backup' : bck > 0 ? 'backups' : 'none';
  }

  /** Is this server in the group that currently takes traffic? */
  inService(s: LbServer): boolean {
    if (!isEligible(s)) return false;
    switch (this.mode) {
      case 'active':
        return !s.backup;
      case 'first-backup':
        return s === this.firstBackup;
      case 'backups':
        return s.backup;
      default:
        return false;
    }
  }
}
