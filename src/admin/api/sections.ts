// The admin API's routes after the status route, one module per console section, each declaring
// its routes through the router (src/admin/api/router.ts) so that the OpenAPI document lists them.
import type { AppContext } from '../../context/app-context.js';
import type { AdminConsoleOptions } from '../console/services.js';
import type { AdminApiRouter } from './router.js';

export type ApiSection = (router: AdminApiRouter, ctx: AppContext, options: AdminConsoleOptions) => void;

export const API_SECTIONS: readonly ApiSection[] = [];
