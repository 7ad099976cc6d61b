/**
 * The admission decision, as a pure function: an AdmissionReview (admission.k8s.io/v1) in, the
 * status and AdmissionReview to answer with out. The patch is the JSON Patch (RFC 6902) between
 * the pod as it arrived and the pod `inject()` returns, so the webhook and `skiff inject` cannot
 * disagree.
 *
 * The webhook never blocks a pod: every review is `allowed: true` (a pod the injector refuses
 * is admitted as it is, with a warning the user sees in kubectl). A pod that is already injected,
 * or opted out with `skiff.io/inject: disabled`, gets no patch, so a reinvocation
 * (`reinvocationPolicy: IfNeeded`) changes nothing.
 */
import { SkiffError } from '../errors.ts';
import type { InjectOptions } from '../inject/inject.ts';
import { formatMessage, formatReport, inject } from '../inject/inject.ts';
import { diff, isPlainObject } from '../inject/patch.ts';

export interface ReviewAnswer {
  status: number;
  /** The AdmissionReview to send (status 200), or the reason it was refused (status 400). */
  body: Record<string, unknown> | string;
  /** For the log: what happened, never the object itself. */
  summary: string;
}

/** Kubernetes shows warnings to users; it truncates long ones and many of them. */
const MAX_WARNINGS = 8;
const MAX_WARNING_CHARS = 250;

function bad(reason: string): ReviewAnswer {
  return { status: 400, body: reason, summary: `rejected: ${reason}` };
}

export function review(input: unknown, options: InjectOptions): ReviewAnswer {
  if (!isPlainObject(input)) return bad('the body is not a JSON object');
  if (input.apiVersion !== 'admission.k8s.io/v1' || input.kind !== 'AdmissionReview') {
    return bad('expected apiVersion admission.k8s.io/v1, kind AdmissionReview');
  }
  const request = input.request;
  if (!isPlainObject(request)) return bad('the AdmissionReview has no request');
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') return bad('request.uid is missing');
  const kind = request.kind;
  if (!isPlainObject(kind) || typeof kind.kind !== 'string') return bad('request.kind is missing');

  const allow = (extra: Record<string, unknown>, summary: string): ReviewAnswer => ({
    status: 200,
    body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true, ...extra } },
    summary,
  });

  // Only pod creation is ours to mutate; anything else the configuration sends is let through.
  const isPodCreate = (kind.group ?? '') === '' && kind.kind === 'Pod' && request.operation === 'CREATE' && !request.subResource;
  if (!isPodCreate) return allow({}, `ignored ${String(request.operation)} ${kind.kind}`);
  const pod = request.object;
  if (!isPlainObject(pod)) return bad('request.object is not a Pod');

  let result;
  try {
    result = inject(pod, options);
  } catch (err) {
    if (!(err instanceof SkiffError)) throw err;
    return allow({ warnings: [`skiff: not injected: ${err.message}`.slice(0, MAX_WARNING_CHARS)] }, `not injected: ${err.message}`);
  }
  const warnings = result.messages.slice(0, MAX_WARNINGS).map((m) => `skiff: ${formatMessage(m)}`.slice(0, MAX_WARNING_CHARS));
  const ops = diff(pod, result.object);
  const summary = result.reports.map(formatReport).join(', ');
  if (ops.length === 0) return allow(warnings.length ? { warnings } : {}, summary);
  return allow(
    {
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
      ...(warnings.length ? { warnings } : {}),
    },
    summary,
  );
}
