import { flexRender, getCoreRowModel, useReactTable, type ColumnDef } from '@tanstack/react-table';
import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { NavLink, useNavigate, useSearchParams } from 'react-router-dom';
import { api, ApiFailure, currentWorld, must, setWorld, type World } from './api/client';
import { useSession } from './session';

export const PAGE_SIZE = 25;

/** A page's data: loaded when its inputs change, reloaded after a change, with the failure to show. */
export function useLoad<T>(load: () => Promise<T>, inputs: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!current) return;
        setError(failure instanceof Error ? failure : new Error(String(failure)));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [...inputs, round]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  return { data, error, loading, reload };
}

/** Runs a change, keeps its failure for the page to show, and reports whether it succeeded. */
export function useAction() {
  const [error, setError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async <T,>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await action();
    } catch (failure) {
      setError(failure instanceof Error ? failure : new Error(String(failure)));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { run, error, busy, clear: () => setError(undefined) };
}

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const requestId = error instanceof ApiFailure ? error.requestId : undefined;
  return (
    <p role="alert" className="error">
      {error.message}
      {requestId ? <span className="muted"> (request {requestId})</span> : null}
    </p>
  );
}

export const formatTime = (value: string | null | undefined) => (value ? new Date(value).toLocaleString('en-GB', { timeZone: 'UTC', dateStyle: 'medium', timeStyle: 'short' }) + ' UTC' : '—');

/** A list as a table (TanStack Table draws the rows; the page gives the columns). */
export function DataTable<T>({ caption, data, columns, empty = 'Nothing here yet.', rowKey }: { caption: string; data: T[]; columns: ColumnDef<T, unknown>[]; empty?: string; rowKey?: (row: T) => string }) {
  const table = useReactTable({ data, columns, getCoreRowModel: getCoreRowModel(), ...(rowKey ? { getRowId: rowKey } : {}) });
  if (data.length === 0) return <p className="muted">{empty}</p>;
  return (
    <div className="table-wrap">
      <table>
        <caption>{caption}</caption>
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((header) => (
                <th key={header.id} scope="col">
                  {flexRender(header.column.columnDef.header, header.getContext())}
                </th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {table.getRowModel().rows.map((row) => (
            <tr key={row.id}>
              {row.getVisibleCells().map((cell) => (
                <td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Cursor pagination kept in the URL (`cursor`), so a page of a list can be shared and reloaded. */
export function Pager({ nextCursor }: { nextCursor: string | null | undefined }) {
  const [params, setParams] = useSearchParams();
  const cursor = params.get('cursor');
  if (!cursor && !nextCursor) return null;
  const go = (next: string | null) => {
    const copy = new URLSearchParams(params);
    if (next) copy.set('cursor', next);
    else copy.delete('cursor');
    setParams(copy);
  };
  return (
    <nav aria-label="Pages" className="pager">
      <button type="button" disabled={!cursor} onClick={() => go(null)}>
        First page
      </button>
      <button type="button" disabled={!nextCursor} onClick={() => go(nextCursor ?? null)}>
        Next page
      </button>
    </nav>
  );
}

/** Filters live in the URL: a view can be shared. Setting one goes back to the first page. */
export function useFilters<K extends string>(names: readonly K[]) {
  const [params, setParams] = useSearchParams();
  const values = Object.fromEntries(names.map((name) => [name, params.get(name) ?? ''])) as Record<K, string>;
  const set = (next: Partial<Record<K, string>>) => {
    const copy = new URLSearchParams(params);
    for (const [name, value] of Object.entries(next) as [K, string | undefined][]) {
      if (value) copy.set(name, value);
      else copy.delete(name);
    }
    copy.delete('cursor');
    setParams(copy);
  };
  return { values, set, cursor: params.get('cursor') ?? undefined };
}

/** A modal dialog (the platform's <dialog>): focus is kept inside, Escape closes it. */
export function Dialog({ title, open, onClose, children }: { title: string; open: boolean; onClose(): void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose}>
      <h2 id={titleId}>{title}</h2>
      {open ? children : null}
    </dialog>
  );
}

/**
 * A button whose action asks first (SPEC 14: destructive actions confirm). With `typed`, the dialog's Confirm stays
 * disabled until that phrase is typed.
 */
export function ConfirmButton({ label, title, message, onConfirm, typed, danger = true, accessibleName }: { label: string; title: string; message: ReactNode; onConfirm(): Promise<unknown>; typed?: string; danger?: boolean; accessibleName?: string }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState('');
  const { run, error, busy, clear } = useAction();
  const close = () => {
    setOpen(false);
    setText('');
    clear();
  };
  const confirm = async (event: FormEvent) => {
    event.preventDefault();
    const done = await run(async () => {
      await onConfirm();
      return true;
    });
    if (done) close();
  };
  return (
    <>
      <button type="button" className={danger ? 'danger' : undefined} onClick={() => setOpen(true)} {...(accessibleName ? { 'aria-label': accessibleName } : {})}>
        {label}
      </button>
      <Dialog title={title} open={open} onClose={close}>
        <form onSubmit={confirm}>
          <div>{message}</div>
          {typed ? (
            <label className="field">
              Type “{typed}” to confirm
              <input value={text} onChange={(event) => setText(event.target.value)} autoComplete="off" />
            </label>
          ) : null}
          <ErrorNote error={error} />
          <div className="actions">
            <button type="submit" className={danger ? 'danger' : 'primary'} disabled={busy || (typed !== undefined && text !== typed)}>
              Confirm
            </button>
            <button type="button" onClick={close}>
              Cancel
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}

/** A secret shown this once (a new key, an invitation link, a webhook secret), beside a Copy button. */
export function SecretOnce({ label, value, warning }: { label: string; value: string; warning: string }) {
  const [copied, setCopied] = useState(false);
  const id = useId();
  return (
    <div className="secret">
      <label htmlFor={id}>
        {label}
      </label>
      <div className="secret-row">
        <input id={id} readOnly value={value} onFocus={(event) => event.target.select()} spellCheck={false} />
        <button
          type="button"
          onClick={() =>
            void navigator.clipboard.writeText(value).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          Copy
        </button>
      </div>
      <p className="warning">{warning}</p>
      <p role="status" className="muted">
        {copied ? 'Copied to the clipboard.' : ''}
      </p>
    </div>
  );
}

const PARTNER_PAGES = [
  ['/', 'Overview'],
  ['/keys', 'API keys'],
  ['/usage', 'Usage'],
  ['/requests', 'Requests'],
  ['/webhooks', 'Webhooks'],
  ['/audit', 'Audit log'],
  ['/team', 'Team'],
  ['/account', 'Account'],
] as const;
const OPERATOR_PAGES = [
  ['/ops/organizations', 'Organizations'],
  ['/ops/keys', 'Keys'],
  ['/ops/kill-switch', 'Kill switch'],
  ['/ops/plans', 'Plans'],
  ['/ops/audit', 'Audit log'],
  ['/ops/usage', 'Usage'],
  ['/ops/requests', 'Requests'],
  ['/ops/operators', 'Operators'],
  ['/ops/account', 'Account'],
] as const;

export function Layout({ children }: { children: ReactNode }) {
  const { session, signedOut } = useSession();
  const navigate = useNavigate();
  const operator = session?.person.kind === 'operator';
  const pages = operator ? OPERATOR_PAGES : PARTNER_PAGES;
  const [world, setWorldState] = useState<World>(currentWorld);
  const testMode = !operator && world === 'test';
  const signOut = async () => {
    await must(api.POST('/console/api/sign-out')).catch(() => undefined);
    signedOut();
    navigate('/sign-in');
  };
  return (
    <div className={testMode ? 'shell test-mode' : 'shell'}>
      <header className="top">
        <span className="brand">Gatehouse</span>
        {operator ? null : (
          <label className="switch">
            <input
              type="checkbox"
              role="switch"
              checked={world === 'test'}
              onChange={(event) => {
                const next: World = event.target.checked ? 'test' : 'live';
                setWorld(next);
                setWorldState(next);
              }}
            />{' '}
            Test mode
          </label>
        )}
        <span className="who">
          {session ? `${session.person.email} · ${session.person.role}${session.organization ? ` · ${session.organization.name}` : ''}` : ''}
        </span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <nav aria-label={operator ? 'Operator pages' : 'Partner pages'} className="side">
        <ul>
          {pages.map(([to, name]) => (
            <li key={to}>
              <NavLink to={to} end={to === '/'}>
                {name}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      {/* Keyed by the world: every page loads its data again when the switch flips. */}
      <main className="content" key={world}>
        {testMode ? (
          <p className="test-banner" role="status">
            Test mode: these pages show the test world (test keys’ requests, usage, webhooks and audit entries).
          </p>
        ) : null}
        {children}
      </main>
    </div>
  );
}

export function Page({ title, children }: { title: string; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Gatehouse console`;
  }, [title]);
  return (
    <>
      <h1>{title}</h1>
      {children}
    </>
  );
}

/** A labelled <select>: the label points at it by id, so its name is the label alone (not the options' text). */
export function SelectField({ label, children, ...select }: { label: string; children: ReactNode } & React.SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} {...select}>
        {children}
      </select>
    </div>
  );
}
