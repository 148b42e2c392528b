import { ImageWatcherError } from '../../shared/errors.ts';
import { showText } from '../../shared/show.ts';
import { ADMISSION_API_VERSION, ADMISSION_KIND } from './types.ts';
import type { AdmissionReviewRequest } from './types.ts';

/** The body is not an admission.k8s.io/v1 AdmissionReview: answered with HTTP 400. */
export class InvalidAdmissionReviewError extends ImageWatcherError {
  constructor(message: string) {
    super('E_ADMISSION_REVIEW', message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A wire value for a message: a string shortened and escaped, otherwise only its type. Never
 * String() (a JSON object's own toString may be anything) nor JSON.stringify (a 10,000-deep array
 * overflows the stack: the answer was a 500 instead of this 400).
 */
function show(value: unknown): string {
  if (typeof value === 'string') return showText(value, 78);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === undefined) return 'nothing';
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * Checks only what is needed to answer at all (apiVersion, kind, request.uid); everything else in
 * the request is read defensively later, so a strange but well-framed review is still answered.
 */
export function parseAdmissionReview(body: unknown): AdmissionReviewRequest {
  if (!isRecord(body)) {
    throw new InvalidAdmissionReviewError('expected a JSON object: an admission.k8s.io/v1 AdmissionReview');
  }
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== ADMISSION_KIND) {
    throw new InvalidAdmissionReviewError(
      `expected apiVersion "${ADMISSION_API_VERSION}" and kind "${ADMISSION_KIND}", got ` +
        `${show(body.apiVersion)} and ${show(body.kind)}; ` +
        'set admissionReviewVersions: ["v1"] in the MutatingWebhookConfiguration',
    );
  }
  const request = body.request;
  if (!isRecord(request)) {
    throw new InvalidAdmissionReviewError('the AdmissionReview has no "request" object');
  }
  if (typeof request.uid !== 'string' || request.uid === '') {
    throw new InvalidAdmissionReviewError('the AdmissionReview request has no "uid" string');
  }
  return body as unknown as AdmissionReviewRequest;
}
