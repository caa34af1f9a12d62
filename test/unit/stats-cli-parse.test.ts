// The runtime API's pure parts: line splitting, HAProxy's help / "Unknown command" texts with
// fuzzy suggestions, weight and timeout parsing, and the `stats socket` line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atoi, parseCliTime, parseWeightChange, splitCommands, usageMessage, ALWAYS_SHOWN, MAX_LINE } from '../../src/proxy/stats/cli-parse.js';
import { COMMANDS, parseSocketSpec } from '../../src/proxy/stats/runtime-api.js';

test('splitCommands: semicolons, blanks, escapes, CR and empty commands', () => {
  assert.deepEqual(splitCommands('show stat'), [['show', 'stat']]);
  assert.deepEqual(splitCommands('  show   info  \r'), [['show', 'info']]);
  assert.deepEqual(splitCommands('prompt;show stat 2 -1 -1; quit'), [['prompt'], ['show', 'stat', '2', '-1', '-1'], ['quit']]);
  assert.deepEqual(splitCommands(''), [[]]);
  assert.deepEqual(splitCommands('show version;;show version'), [['show', 'version'], [], ['show', 'version']]);
  assert.deepEqual(splitCommands('get\\ weight a\\;b/c'), [['get weight', 'a;b/c']]);
  assert.deepEqual(splitCommands('x\t y'), [['x', 'y']]);
  assert.equal(MAX_LINE, 16384);
});

test('help lists the commands sorted, then help/prompt/quit', () => {
  const help = usageMessage(COMMANDS, [], true);
  const lines = help.split('\n');
  assert.equal(lines[0], 'The following commands are valid at this level:');
  assert.ok(help.endsWith(ALWAYS_SHOWN));
  const listed = lines.slice(1, 1 + COMMANDS.length);
  assert.deepEqual(listed, [...listed].sort());
  assert.ok(listed.includes('  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server'));
  // every usage line keeps HAProxy's 40-column layout
  for (const c of COMMANDS) assert.equal(c.usage[40] === ':' || c.usage[39] === ':', true, c.usage);
});

test('help narrowed by words, as HAProxy: "help show stat" and "help set"', () => {
  assert.equal(
    usageMessage(COMMANDS, ['show', 'stat'], true),
    'The following commands are valid at this level:\n  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server\n' + ALWAYS_SHOWN,
  );
  const set = usageMessage(COMMANDS, ['set'], true).split('\n').filter((l) => l.startsWith('  set '));
  assert.deepEqual(set.map((l) => l.slice(2, 14).trim()), ['set server <', 'set timeout', 'set weight <']);
});

test('unknown commands: the empty line lists everything; typos get fuzzy suggestions', () => {
  assert.ok(usageMessage(COMMANDS, [], false).startsWith('Unknown command. Please enter one of the following commands only:\n  disable address'));
  const only = (args: string[]): string[] =>
    usageMessage(COMMANDS, args, false)
      .split('\n')
      .slice(1)
      .filter((l) => l && !ALWAYS_SHOWN.includes(l))
      .map((l) => l.slice(2, 42).split(':')[0]!.trim());
  // These give the same single suggestion on HAProxy 2.6 (checked against the real one).
  assert.deepEqual(only(['shwo', 'stat']), ['show stat [desc|json|no-maint|typed|up]*']);
  assert.deepEqual(only(['show', 'stats']), ['show stat [desc|json|no-maint|typed|up]*']);
  assert.deepEqual(only(['set', 'wieght']), ['set weight <bk>/<srv>  (DEPRECATED)']);
  assert.ok(usageMessage(COMMANDS, ['foo'], false).startsWith('Unknown command, but maybe one of the following ones is a better match:\n'));
  // a known first word with nothing after it: every command starting with it
  // (with warren's own `shutdown sessions to <addr>`)
  assert.deepEqual(only(['shutdown']), ['shutdown sessions server <bk>/<srv>', 'shutdown sessions to <addr>']);
});

test('weight changes: absolute, relative, and HAProxy error texts', () => {
  assert.deepEqual(parseWeightChange('10', 1, true), { weight: 10 });
  assert.deepEqual(parseWeightChange('50%', 10, true), { weight: 5 });
  assert.deepEqual(parseWeightChange('50%', 1, true), { weight: 0 });
  assert.deepEqual(parseWeightChange('101%', 1, true), { weight: 1 });
  assert.deepEqual(parseWeightChange('1000%', 100, true), { weight: 256 });
  assert.deepEqual(parseWeightChange(undefined, 1, true), { error: 'Require <weight> or <weight%>.\n' });
  assert.deepEqual(parseWeightChange('300', 1, true), { error: 'Absolute weight can only be between 0 and 256 inclusive.\n' });
  assert.deepEqual(parseWeightChange('-1', 1, true), { error: 'Absolute weight can only be between 0 and 256 inclusive.\n' });
  assert.deepEqual(parseWeightChange('-5%', 1, true), { error: 'Relative weight must be positive.\n' });
  assert.deepEqual(parseWeightChange('abc', 1, true), { error: 'Empty weight string empty or preceded by garbage' });
  assert.deepEqual(parseWeightChange('5x', 1, true), { error: 'Trailing garbage in weight string' });
  assert.deepEqual(parseWeightChange('5', 1, false), { error: "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n" });
  assert.deepEqual(parseWeightChange('0%', 1, false), { weight: 0 });
  assert.deepEqual(parseWeightChange('100%', 3, false), { weight: 3 });
});

test('cli timeouts default to seconds; atoi reads a leading integer', () => {
  assert.equal(parseCliTime('60'), 60_000);
  assert.equal(parseCliTime('500ms'), 500);
  assert.equal(parseCliTime('2m'), 120_000);
  assert.equal(parseCliTime('x'), null);
  assert.equal(parseCliTime('10q'), null);
  assert.equal(parseCliTime('99999999999'), null);
  assert.equal(atoi('-1'), -1);
  assert.equal(atoi('4x'), 4);
  assert.equal(atoi('json'), 0);
  assert.equal(atoi(undefined), 0);
});

test('stats socket lines', () => {
  assert.deepEqual(parseSocketSpec('/run/warren/admin.sock mode 600 level admin'), {
    path: '/run/warren/admin.sock',
    mode: 0o600,
    level: 'admin',
    uid: null,
    gid: null,
    ignored: [],
  });
  assert.equal(parseSocketSpec('/tmp/x.sock').level, 'operator'); // HAProxy's default level
  assert.equal(parseSocketSpec('unix@/tmp/x.sock level user').path, '/tmp/x.sock');
  assert.deepEqual(parseSocketSpec('/run/haproxy/admin.sock mode 660 level admin expose-fd listeners').ignored, ['expose-fd listeners']);
  assert.throws(() => parseSocketSpec(''), /expected 'PATH/);
  assert.throws(() => parseSocketSpec('/x mode 999'), /octal/);
  assert.throws(() => parseSocketSpec('/x level root'), /level expects/);
  assert.throws(() => parseSocketSpec('/x level'), /expects a value/);
  assert.throws(() => parseSocketSpec('/x accept-proxy on'), /unsupported keyword 'accept-proxy'/);
});
