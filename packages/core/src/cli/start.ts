/** `zdt start`: its command line read into a configuration (start-command.ts), then the daemon run until it stops. */
import { Predecessor } from '../primary/upgrade/upgrade.js';
import { Daemon } from './daemon.js';
import { readStartCommand } from './start-command.js';

/** `zdt start`; when `zdt upgrade` started it, a failure before it is ready is told to the old supervisor too. */
export async function start(argv: string[]): Promise<number> {
  const predecessor = Predecessor.find();
  try {
    const command = await readStartCommand(argv);
    if (command === undefined) return 0;
    return await new Daemon(command, predecessor).run();
  } catch (error) {
    predecessor?.failed(error);
    throw error;
  }
}
