import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useState, type FormEvent } from 'react';
import { api, must, type Schema } from '../api/client';
import { useSession } from '../session';
import { ConfirmButton, DataTable, ErrorNote, formatTime, Page, SecretOnce, useAction, useLoad } from '../ui';

type SessionRow = Schema<'/console/api/sessions', 'get'>['data'][number];

/** Password, second factor (TOTP with recovery codes) and one's own sessions (SPEC 13.3, 13.5). */
export function Account() {
  const { session, refresh } = useSession();
  const sessions = useLoad(() => must(api.GET('/console/api/sessions')), []);
  const [currentPassword, setCurrentPassword] = useState('');
  const [newPassword, setNewPassword] = useState('');
  const password = useAction();
  const [passwordDone, setPasswordDone] = useState(false);
  const [setup, setSetup] = useState<{ secret: string; otpauthUri: string } | null>(null);
  const [code, setCode] = useState('');
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const [offPassword, setOffPassword] = useState('');
  const factor = useAction();

  const changePassword = async (event: FormEvent) => {
    event.preventDefault();
    const done = await password.run(async () => {
      await must(api.PUT('/console/api/account/password', { body: { currentPassword, newPassword } }));
      return true;
    });
    if (done) {
      setPasswordDone(true);
      setCurrentPassword('');
      setNewPassword('');
      sessions.reload();
    }
  };
  const columns = useMemo<ColumnDef<SessionRow, unknown>[]>(
    () => [
      { header: 'Started', cell: ({ row }) => formatTime(row.original.createdAt) },
      { header: 'Last seen', cell: ({ row }) => formatTime(row.original.lastSeenAt) },
      { header: 'Address', cell: ({ row }) => row.original.clientAddress ?? '—' },
      { header: 'Browser', cell: ({ row }) => <span className="clip">{row.original.userAgent ?? '—'}</span> },
      {
        header: 'Actions',
        cell: ({ row }) =>
          row.original.current ? (
            'this session'
          ) : (
            <ConfirmButton
              label="End"
              accessibleName={`End the session started ${formatTime(row.original.createdAt)}`}
              title="End the session"
              message={<p>That browser is signed out.</p>}
              onConfirm={async () => {
                await must(api.DELETE('/console/api/sessions/{id}', { params: { path: { id: row.original.id } } }));
                sessions.reload();
              }}
            />
          ),
      },
    ],
    [sessions],
  );
  return (
    <Page title="Account">
      <p>
        Signed in as <strong>{session?.person.email}</strong> ({session?.person.role}).
      </p>
      {session?.secondFactorRequired ? (
        <p role="alert" className="warning">
          Your organization requires a second factor: set one up below to use the other pages.
        </p>
      ) : null}
      <h2>Password</h2>
      <form onSubmit={changePassword} className="panel stack" aria-label="Change password">
        <label className="field">
          Current password
          <input type="password" autoComplete="current-password" required value={currentPassword} onChange={(event) => setCurrentPassword(event.target.value)} />
        </label>
        <label className="field">
          New password
          <input type="password" autoComplete="new-password" minLength={12} required value={newPassword} onChange={(event) => setNewPassword(event.target.value)} />
        </label>
        <ErrorNote error={password.error} />
        {passwordDone ? <p role="status">Password changed; your other sessions ended.</p> : null}
        <button type="submit" className="primary" disabled={password.busy}>
          Change password
        </button>
      </form>
      <h2>Second factor</h2>
      <div className="panel stack">
        {session?.person.secondFactor ? (
          <form
            className="stack"
            aria-label="Turn off the second factor"
            onSubmit={async (event) => {
              event.preventDefault();
              if (await factor.run(() => must(api.POST('/console/api/account/second-factor/disable', { body: { password: offPassword } })).then(() => true))) {
                setOffPassword('');
                setRecoveryCodes(null);
                await refresh();
              }
            }}
          >
            <p>An authenticator app code is asked at every sign-in.</p>
            <label className="field">
              Password
              <input type="password" autoComplete="current-password" required value={offPassword} onChange={(event) => setOffPassword(event.target.value)} />
            </label>
            <button type="submit" className="danger" disabled={factor.busy}>
              Turn off the second factor
            </button>
          </form>
        ) : setup ? (
          <form
            className="stack"
            aria-label="Turn on the second factor"
            onSubmit={async (event) => {
              event.preventDefault();
              const done = await factor.run(() => must(api.POST('/console/api/account/second-factor/enable', { body: { code } })));
              if (done) {
                setRecoveryCodes(done.recoveryCodes);
                setSetup(null);
                setCode('');
                await refresh();
              }
            }}
          >
            <SecretOnce label="Authenticator secret" value={setup.secret} warning="Add it to your authenticator app (or open the otpauth link below), then enter the code it shows." />
            <p>
              <a href={setup.otpauthUri}>Open in an authenticator app</a>
            </p>
            <label className="field">
              Code from the app
              <input inputMode="numeric" autoComplete="one-time-code" required pattern="[0-9]{6}" value={code} onChange={(event) => setCode(event.target.value.trim())} />
            </label>
            <button type="submit" className="primary" disabled={factor.busy}>
              Turn on
            </button>
          </form>
        ) : (
          <button type="button" className="primary" onClick={async () => setSetup((await factor.run(() => must(api.POST('/console/api/account/second-factor/setup')))) ?? null)}>
            Set up a second factor
          </button>
        )}
        <ErrorNote error={factor.error} />
        {recoveryCodes ? (
          <section aria-label="Recovery codes">
            <p className="warning">Recovery codes (each works once; they will not be shown again):</p>
            <ul className="codes">
              {recoveryCodes.map((one) => (
                <li key={one}>
                  <code>{one}</code>
                </li>
              ))}
            </ul>
          </section>
        ) : null}
      </div>
      <h2>Sessions</h2>
      <ErrorNote error={sessions.error} />
      {sessions.data ? <DataTable caption="Your sessions" data={sessions.data.data} columns={columns} rowKey={(row) => row.id} /> : null}
    </Page>
  );
}
