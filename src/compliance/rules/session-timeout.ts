// 45 CFR 164.312(a)(2)(iii) automatic logoff: "terminate an electronic session after a
// predetermined time of inactivity". Caduceus uses 15 minutes as the ceiling.
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

export const SESSION_IDLE_MAX = 900;

const id = 'CAD-SES-001';
const finding = findingsOf(id);

export const sessionTimeout: Rule = {
  id,
  title: 'Session idle timeout above 15 minutes',
  severity: 'error',
  citations: ['45 CFR 164.312(a)(2)(iii)', 'SMART App Launch 2.2 app-launch (security is outside SMART: the server supplies session time-out)'],
  description: `session.idle_timeout above ${SESSION_IDLE_MAX} seconds keeps an unattended login session usable for too long.`,
  check(input) {
    const idle = input.config.session.idle_timeout;
    if (idle <= SESSION_IDLE_MAX) return [];
    return [finding('error', 'session.idle_timeout', `Login sessions survive ${idle} s of inactivity.`, `Set session.idle_timeout to ${SESSION_IDLE_MAX} or less.`)];
  },
};
