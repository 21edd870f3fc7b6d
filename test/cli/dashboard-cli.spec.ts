import { parseCliArgs, CLI_USAGE } from '../../lib/cli/cli-args.js';
import { runCli, type CliIo } from '../../lib/cli/run-cli.js';

class RecordingIo implements CliIo {
  readonly lines: string[] = [];
  readonly env = {};
  out(text: string): void {
    this.lines.push(text);
  }
  err(text: string): void {
    this.lines.push(text);
  }
  onShutdownSignal(): () => void {
    return () => undefined;
  }
}

describe('the CLI broker and its dashboard', () => {
  it('serves the dashboard by default and prints where it is', async () => {
    const io = new RecordingIo();
    const run = await runCli(['broker', '--port', '0'], io);
    try {
      const broker = run.broker!;
      expect(broker.dashboardUrl).toBe(`${broker.url}/dashboard`);
      expect(io.lines.join('\n')).toContain(`Dashboard:             ${broker.url}/dashboard  (approve or deny in your browser)`);
      const page = await fetch(broker.dashboardUrl!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>Sesame approvals</title>');
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it('--no-dashboard turns it off: no Dashboard line, and /dashboard is a protocol path again', async () => {
    expect(parseCliArgs(['broker', '--no-dashboard'], {})).toMatchObject({ kind: 'broker', dashboard: false });
    expect(parseCliArgs(['broker'], {})).toMatchObject({ kind: 'broker', dashboard: undefined });
    const io = new RecordingIo();
    const run = await runCli(['broker', '--port', '0', '--no-dashboard'], io);
    try {
      expect(run.broker!.dashboardUrl).toBeNull();
      expect(io.lines.join('\n')).not.toContain('Dashboard:');
      expect((await fetch(`${run.broker!.url}/dashboard`)).status).toBe(401);
    } finally {
      await run.stop();
    }
  });

  it('documents the flag in the usage text', () => {
    expect(CLI_USAGE).toMatch(/--no-dashboard\s+Do not serve the approval dashboard/);
  });
});
