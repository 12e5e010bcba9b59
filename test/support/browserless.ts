// A small form-driving user agent for tests: follows redirects by hand with a cookie jar, and
// submits the login and consent forms the way a person would.
import { fetch, type Dispatcher } from 'undici';

export class Jar {
  private cookies = new Map<string, string>();
  store(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  has(name: string): boolean {
    return this.cookies.has(name);
  }
}

export interface Step {
  status: number;
  url: string;
  location?: string;
  body: string;
  headers: Headers;
}

export class Browser {
  readonly jar = new Jar();
  constructor(readonly dispatcher: Dispatcher) {}

  async request(url: string, init: { method?: string; form?: Record<string, string | string[]> } = {}): Promise<Step> {
    let body: string | undefined;
    const headers: Record<string, string> = { accept: 'text/html', cookie: this.jar.header() };
    if (init.form) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(init.form)) for (const x of [v].flat()) p.append(k, x);
      body = p.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual', dispatcher: this.dispatcher });
    this.jar.store(res.headers as unknown as Headers);
    const location = res.headers.get('location') ?? undefined;
    return { status: res.status, url, location: location ? new URL(location, url).href : undefined, body: await res.text(), headers: res.headers as unknown as Headers };
  }

  /** Follows 3xx responses until one leaves `origin` or a page is shown. */
  async follow(url: string, origin: string, init: { method?: string; form?: Record<string, string | string[]> } = {}): Promise<Step> {
    let step = await this.request(url, init);
    while (step.status >= 300 && step.status < 400 && step.location && new URL(step.location).origin === origin) {
      step = await this.request(step.location);
    }
    return step;
  }
}

export function formAction(page: Step): string {
  const m = /<form method="post" action="([^"]+)"/.exec(page.body);
  if (!m) throw new Error(`no form on page ${page.url}: ${page.body.slice(0, 300)}`);
  return new URL(m[1]!.replace(/&amp;/g, '&'), page.url).href;
}

export function hiddenCsrf(page: Step): string {
  const m = /name="csrf" value="([^"]+)"/.exec(page.body);
  if (!m) throw new Error('no csrf field');
  return m[1]!;
}

/** The patient ids offered by the consent page's patient picker (radio buttons), in order. */
export function patientChoices(page: Step): string[] {
  return [...page.body.matchAll(/type="radio" id="patient-\d+" name="patient" value="([^"]+)"/g)].map((m) => m[1]!);
}

export function scopeBoxes(page: Step): string[] {
  return [...page.body.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1]!);
}
