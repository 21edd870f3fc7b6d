import { SampleBroker } from './sample-app.client.js';
import { SampleAppProcess } from './sample-app.process.js';

export interface StartedSample {
  sample: SampleAppProcess;
  api: string;
  brokerUrl: string;
  broker: SampleBroker;
}

/** Starts the built sample on free ports (its embedded broker too) and reads its URLs from the banner, printed once it listens. */
export async function startSample(main: string, env: Record<string, string> = {}): Promise<StartedSample> {
  const sample = SampleAppProcess.start(main, { PORT: '0', BROKER_PORT: '0', ...env });
  try {
    const api = (await sample.waitForOutput(/API:\s+(http:\/\/\S+)/, 30_000))[1];
    const brokerUrl = (await sample.waitForOutput(/Broker:\s+(http:\/\/\S+)/, 1000))[1];
    // The banner's last line: everything above it is in.
    await sample.waitForOutput(/Ctrl\+C stops the app[^\n]*\.\n/, 1000);
    return { sample, api, brokerUrl, broker: new SampleBroker(brokerUrl) };
  } catch (error) {
    await sample.kill();
    throw error;
  }
}
