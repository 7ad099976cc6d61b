/**
 * Live: the tap stream (requests as they happen, over server-sent events). The dashboard's
 * stream endpoint is not defined yet, so this route is a placeholder that points at the CLI.
 * When it lands, this page gets filters (service, method, path prefix, status class), pause,
 * and a bounded table in which the oldest rows drop off.
 */
import type { JSX } from 'preact';
import { Card, Command } from '../components/common.tsx';

export function LivePage(): JSX.Element {
  return (
    <div class="page">
      <div class="page-head">
        <h1>Live</h1>
      </div>
      <Card>
        <div class="empty" data-empty="live">
          <h2>The live request stream is coming to this page</h2>
          <p>Meanwhile, watch the requests of one sidecar from a terminal, through its admin port:</p>
          <Command text="skiff tap --admin 127.0.0.1:15000" label="tap a sidecar" />
        </div>
      </Card>
    </div>
  );
}
