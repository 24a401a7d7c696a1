// Opening the user's browser on the sign-in page, best effort: the URL is always printed too, so
// a missing opener (a server, a container) only means the user copies it.
import { spawn } from 'node:child_process';

/**
 * Starts the platform's opener (open, xdg-open, start) on `url` in the background. Returns false
 * when there is obviously no browser here (Linux without a display); never throws.
 */
export function openBrowser(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): boolean {
  let command: string;
  let args: string[];
  if (platform === 'darwin') {
    [command, args] = ['open', [url]];
  } else if (platform === 'win32') {
    // `start` is a cmd builtin; the empty string is the window title, so a URL is never taken for one
    [command, args] = ['cmd', ['/c', 'start', '""', url.replaceAll('&', '^&')]];
  } else {
    if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return false;
    [command, args] = ['xdg-open', [url]];
  }
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true, windowsVerbatimArguments: platform === 'win32' });
    child.on('error', () => {}); // not installed: the printed URL is the fallback
    child.unref();
    return true;
  } catch {
    return false;
  }
}
