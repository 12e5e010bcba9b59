// The admin API's routes after the status route, one module per console section, each declaring
// its routes through the router (src/admin/api/router.ts) so that the OpenAPI document lists them.
import type { AppContext } from '../../context/app-context.js';
import type { AdminConsoleOptions } from '../console/services.js';
import type { AdminApiRouter } from './router.js';
import { registerGrantRoutes } from './grants.js';
import { registerUserRoutes } from './users.js';
import { registerAgentRoutes } from './agents.js';
import { registerClientRoutes } from './clients.js';
import { registerAuditApi } from './audit.js';
import { registerBreakGlassApi } from './breakglass.js';
import { registerReportApi } from './report.js';

export type ApiSection = (router: AdminApiRouter, ctx: AppContext, options: AdminConsoleOptions) => void;

export const API_SECTIONS: readonly ApiSection[] = [registerUserRoutes,
  registerGrantRoutes, registerClientRoutes, registerAgentRoutes,
  registerAuditApi, registerBreakGlassApi, registerReportApi];
