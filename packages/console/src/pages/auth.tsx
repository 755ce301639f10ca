import { useEffect, useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router-dom';
import { api, ApiFailure, must } from '../api/client';
import { useSession } from '../session';
import { ErrorNote, useAction, useLoad } from '../ui';

function Centered({ title, children }: { title: string; children: React.ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Gatehouse console`;
  }, [title]);
  return (
    <main className="centered">
      <p className="brand">Gatehouse</p>
      <h1>{title}</h1>
      {children}
    </main>
  );
}

/** SPEC 14: fields `Email` and `Password`, a button `Sign in`; a second-factor code when the account has one. */
export function SignIn() {
  const { signedIn } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [needsCode, setNeedsCode] = useState(false);
  const { run, error, busy } = useAction();
  const setup = useLoad(() => must(api.GET('/console/api/setup')), []);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body = { email, password, ...(needsCode && code ? (/^\d{6}$/.test(code) ? { totpCode: code } : { recoveryCode: code }) : {}) };
    const session = await run(async () => {
      try {
        return await must(api.POST('/console/api/sign-in', { body }));
      } catch (failure) {
        if (failure instanceof ApiFailure && failure.details?.secondFactor === 'required') setNeedsCode(true);
        throw failure;
      }
    });
    if (!session) return;
    signedIn(session);
    const next = params.get('next');
    navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : session.person.kind === 'operator' ? '/ops/organizations' : '/', { replace: true });
  };
  return (
    <Centered title="Sign in">
      {params.get('done') ? (
        <p role="status" className="ok">
          Your password is set. Sign in with it.
        </p>
      ) : null}
      <form onSubmit={submit} className="stack">
        <label className="field">
          Email
          <input type="email" autoComplete="username" required value={email} onChange={(event) => setEmail(event.target.value)} />
        </label>
        <label className="field">
          Password
          <input type="password" autoComplete="current-password" required value={password} onChange={(event) => setPassword(event.target.value)} />
        </label>
        {needsCode ? (
          <label className="field">
            Authentication code (or a recovery code)
            <input autoComplete="one-time-code" value={code} onChange={(event) => setCode(event.target.value.trim())} />
          </label>
        ) : null}
        <ErrorNote error={error} />
        <button type="submit" className="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      {setup.data && !setup.data.operatorExists ? (
        <p>
          No operator account exists yet: <Link to="/setup">create the first one with the admin token</Link>.
        </p>
      ) : null}
    </Centered>
  );
}

/** The pages invitation and reset links open: `New password`, `Set password`, then sign-in (SPEC 14). */
export function SetPassword({ purpose }: { purpose: 'invitation' | 'reset' }) {
  const location = useLocation();
  const navigate = useNavigate();
  const token = new URLSearchParams(location.hash.replace(/^#/, '')).get('token') ?? '';
  const [password, setPassword] = useState('');
  const { run, error, busy } = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const done = await run(() =>
      purpose === 'invitation'
        ? must(api.POST('/console/api/invitations/accept', { body: { token, password } }))
        : must(api.POST('/console/api/password-resets/complete', { body: { token, password } })),
    );
    if (done) navigate('/sign-in?done=1', { replace: true });
  };
  return (
    <Centered title={purpose === 'invitation' ? 'Accept the invitation' : 'Reset your password'}>
      {token ? null : (
        <p role="alert" className="error">
          This link is incomplete: open the whole link from the message.
        </p>
      )}
      <form onSubmit={submit} className="stack">
        <label className="field">
          New password
          <input type="password" autoComplete="new-password" minLength={12} required value={password} onChange={(event) => setPassword(event.target.value)} />
        </label>
        <p className="muted">At least 12 characters; common passwords are refused.</p>
        <ErrorNote error={error} />
        <button type="submit" className="primary" disabled={busy || !token}>
          Set password
        </button>
      </form>
    </Centered>
  );
}

/** SPEC 13.2: while no operator exists, whoever holds the admin token creates the first operator account. */
export function SetupPage() {
  const navigate = useNavigate();
  const [adminToken, setAdminToken] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { run, error, busy } = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const done = await run(() => must(api.POST('/console/api/setup', { body: { email, password }, headers: { 'X-Admin-Token': adminToken } })));
    if (done) navigate('/sign-in?done=1', { replace: true });
  };
  return (
    <Centered title="Create the first operator">
      <form onSubmit={submit} className="stack">
        <label className="field">
          Admin token
          <input type="password" autoComplete="off" required value={adminToken} onChange={(event) => setAdminToken(event.target.value)} />
        </label>
        <label className="field">
          Email
          <input type="email" autoComplete="username" required value={email} onChange={(event) => setEmail(event.target.value)} />
        </label>
        <label className="field">
          New password
          <input type="password" autoComplete="new-password" minLength={12} required value={password} onChange={(event) => setPassword(event.target.value)} />
        </label>
        <ErrorNote error={error} />
        <button type="submit" className="primary" disabled={busy}>
          Create operator
        </button>
      </form>
    </Centered>
  );
}
