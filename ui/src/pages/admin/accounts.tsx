// Users and robot accounts (token mode, global administrators). A robot's secret is shown once, when it
// is made or rotated: Berth keeps only its hash.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context.js';
import { CopyField } from '../../components/copy.js';
import { ConfirmDialog, Dialog } from '../../components/dialog.js';
import { Empty, ErrorNote, Loading } from '../../components/states.js';
import { Time } from '../../components/time.js';
import { useAsync, useTitle } from '../../hooks.js';
import { plural } from '../../lib/format.js';
import { describeError } from '../../lib/http.js';
import type { Role } from '../../lib/types.js';

type Confirm = { title: string; label: string; text: string; run: () => Promise<void> } | undefined;

export function UsersPage() {
  useTitle('Users');
  const { api, state, notify } = useApp();
  const users = useAsync(() => api.users(), []);
  const [confirm, setConfirm] = useState<Confirm>();
  const [password, setPasswordFor] = useState<string>();
  const me = state.kind === 'signed-in' ? state.user.name : '';

  return (
    <section>
      <div class="section-head">
        <h2>Users</h2>
        {users.data && <span class="muted">{plural(users.data.users.length, 'user')}</span>}
      </div>
      <AddUser onAdded={users.reload} />
      {users.loading && !users.data && <Loading />}
      {users.error !== undefined && <ErrorNote error={users.error} onRetry={users.reload} />}
      {users.data && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((user) => (
                <tr key={user.name}>
                  <td class="name-cell">
                    {user.name} {user.admin && <span class="badge info">administrator</span>}
                    {user.name === me && <span class="muted"> (you)</span>}
                    {user.description && <p class="description">{user.description}</p>}
                  </td>
                  <td data-label="Created">
                    <Time value={user.createdAt} />
                  </td>
                  <td class="row-actions">
                    <button type="button" class="small" onClick={() => setPasswordFor(user.name)}>
                      Set password
                    </button>
                    {user.name !== me && (
                      <button
                        type="button"
                        class="small"
                        onClick={() =>
                          setConfirm({
                            title: user.admin
                              ? `Withdraw administration from ${user.name}?`
                              : `Make ${user.name} a global administrator?`,
                            label: user.admin ? 'Withdraw' : 'Make administrator',
                            text: user.admin
                              ? 'They keep their namespace roles.'
                              : 'Administrators may read, push and delete everywhere and manage every account.',
                            run: async () => {
                              await api.setAdmin(user.name, !user.admin);
                              notify(`${user.name} is ${user.admin ? 'no longer' : 'now'} an administrator`);
                              users.reload();
                            },
                          })
                        }
                      >
                        {user.admin ? 'Withdraw admin' : 'Make admin'}
                      </button>
                    )}
                    {user.name !== me && (
                      <button
                        type="button"
                        class="small danger"
                        onClick={() =>
                          setConfirm({
                            title: `Remove user ${user.name}?`,
                            label: 'Remove user',
                            text: 'Their sign-ins and tokens stop working at once; their namespace roles go.',
                            run: async () => {
                              await api.removeUser(user.name);
                              notify(`Removed user ${user.name}`);
                              users.reload();
                            },
                          })
                        }
                      >
                        Remove
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {confirm && (
        <ConfirmDialog
          title={confirm.title}
          confirmLabel={confirm.label}
          danger
          onClose={() => setConfirm(undefined)}
          onConfirm={confirm.run}
        >
          <p>{confirm.text}</p>
        </ConfirmDialog>
      )}
      {password && (
        <PasswordDialog name={password} self={password === me} onClose={() => setPasswordFor(undefined)} />
      )}
    </section>
  );
}

function AddUser({ onAdded }: { onAdded: () => void }) {
  const { api, notify } = useApp();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <form
      class="inline-form"
      onSubmit={async (event) => {
        event.preventDefault();
        setError(undefined);
        try {
          await api.addUser({ name: name.trim(), password, admin });
          notify(`Added user ${name.trim()}`);
          setName('');
          setPassword('');
          setAdmin(false);
          onAdded();
        } catch (err) {
          setError(describeError(err));
        }
      }}
    >
      <label class="field">
        <span>New user</span>
        <input value={name} required autoComplete="off" onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Password</span>
        <input
          type="password"
          value={password}
          required
          autoComplete="new-password"
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      <label class="check">
        <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} />{' '}
        administrator
      </label>
      <button type="submit" class="primary">
        Add user
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function PasswordDialog({ name, self, onClose }: { name: string; self: boolean; onClose: () => void }) {
  const { api, notify } = useApp();
  const [password, setPassword] = useState('');
  const [current, setCurrent] = useState('');
  const [error, setError] = useState<string>();
  return (
    <Dialog title={`New password for ${name}`} onClose={onClose}>
      <form
        class="stack"
        onSubmit={async (event) => {
          event.preventDefault();
          try {
            await api.setPassword(name, password, self ? current : undefined);
            notify(`Changed the password of ${name}`);
            onClose();
          } catch (err) {
            setError(describeError(err));
          }
        }}
      >
        {self && (
          <label class="field">
            <span>Current password</span>
            <input
              type="password"
              required
              autoComplete="current-password"
              value={current}
              onInput={(e) => setCurrent(e.currentTarget.value)}
            />
          </label>
        )}
        <label class="field">
          <span>New password</span>
          <input
            type="password"
            required
            autoComplete="new-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <p class="muted">Their tokens and docker logins made with the old password stop working.</p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Set password
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** `team:write, tools:read` -> grants; throws with a message naming the bad part. */
export function parseGrants(text: string): Array<{ namespace: string; role: Role }> {
  return text
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((part) => {
      const [namespace, role] = part.split(':');
      if (!namespace || (role !== 'read' && role !== 'write' && role !== 'admin')) {
        throw new Error(`“${part}” is not namespace:role (role read, write or admin)`);
      }
      return { namespace, role };
    });
}

export function RobotsPage() {
  useTitle('Robot accounts');
  const { api, host, notify } = useApp();
  const robots = useAsync(() => api.robots(), []);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [grants, setGrants] = useState('');
  const [error, setError] = useState<string>();
  const [secret, setSecret] = useState<{ name: string; secret: string }>();
  const [confirm, setConfirm] = useState<Confirm>();

  const add = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      const robot = await api.addRobot({
        name: name.trim(),
        description: description.trim() || null,
        grants: parseGrants(grants),
      });
      setSecret({ name: robot.name, secret: robot.secret });
      setName('');
      setDescription('');
      setGrants('');
      robots.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const shortName = (full: string) => full.replace(/^robot\+/, '');

  return (
    <section>
      <div class="section-head">
        <h2>Robot accounts</h2>
        {robots.data && <span class="muted">{plural(robots.data.robots.length, 'robot')}</span>}
      </div>
      <p class="muted">
        For CI and deployments: they log in as <code>robot+name</code> with a secret, and get roles in
        namespaces.
      </p>
      <form class="inline-form" onSubmit={add}>
        <label class="field">
          <span>New robot</span>
          <input
            value={name}
            required
            placeholder="ci"
            autoComplete="off"
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Description</span>
          <input
            value={description}
            maxLength={1024}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Roles (namespace:role)</span>
          <input
            value={grants}
            placeholder="team:write, tools:read"
            autoComplete="off"
            spellcheck={false}
            onInput={(e) => setGrants(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="primary">
          Add robot
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {robots.loading && !robots.data && <Loading />}
      {robots.error !== undefined && <ErrorNote error={robots.error} onRetry={robots.reload} />}
      {robots.data && robots.data.robots.length === 0 && (
        <Empty title="No robot accounts yet.">
          <p>Add one above for each pipeline that pushes or pulls.</p>
        </Empty>
      )}
      {robots.data && robots.data.robots.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Robot</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {robots.data.robots.map((robot) => (
                <tr key={robot.name}>
                  <td class="name-cell">
                    <code>{robot.name}</code>
                    {robot.description && <p class="description">{robot.description}</p>}
                  </td>
                  <td data-label="Created">
                    <Time value={robot.createdAt} />
                  </td>
                  <td class="row-actions">
                    <button
                      type="button"
                      class="small"
                      onClick={() =>
                        setConfirm({
                          title: `Rotate the secret of ${robot.name}?`,
                          label: 'Rotate secret',
                          text: 'The old secret stops working at once: update every pipeline that uses it.',
                          run: async () => {
                            const rotated = await api.rotateRobotSecret(shortName(robot.name));
                            setSecret({ name: robot.name, secret: rotated.secret });
                          },
                        })
                      }
                    >
                      Rotate secret
                    </button>
                    <button
                      type="button"
                      class="small danger"
                      onClick={() =>
                        setConfirm({
                          title: `Remove ${robot.name}?`,
                          label: 'Remove robot',
                          text: 'Its secret and tokens stop working at once.',
                          run: async () => {
                            await api.removeRobot(shortName(robot.name));
                            notify(`Removed ${robot.name}`);
                            robots.reload();
                          },
                        })
                      }
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {confirm && (
        <ConfirmDialog
          title={confirm.title}
          confirmLabel={confirm.label}
          danger
          onClose={() => setConfirm(undefined)}
          onConfirm={confirm.run}
        >
          <p>{confirm.text}</p>
        </ConfirmDialog>
      )}
      {secret && (
        <Dialog title={`Secret of ${secret.name}`} onClose={() => setSecret(undefined)}>
          <p class="notice">
            <strong>Shown only now.</strong> Berth keeps only a hash of it: copy it into your CI's secret
            store.
          </p>
          <CopyField label="robot secret" text={secret.secret} />
          <p class="muted">Log in with it:</p>
          <CopyField
            label="docker login command"
            text={`echo "$SECRET" | docker login ${host} -u '${secret.name}' --password-stdin`}
          />
          <div class="actions">
            <button type="button" class="primary" onClick={() => setSecret(undefined)}>
              I have stored it
            </button>
          </div>
        </Dialog>
      )}
    </section>
  );
}
