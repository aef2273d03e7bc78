// Changes to tags and manifests, each behind a dialog that says what will happen.
import { useState } from 'preact/hooks';
import { useApp } from '../app-context.js';
import { describeError } from '../lib/http.js';
import { shortDigest } from '../lib/format.js';
import { ConfirmDialog, Dialog } from './dialog.js';

export function DeleteTagDialog({
  name,
  tag,
  digest,
  onDone,
  onClose,
}: {
  name: string;
  tag: string;
  digest: string;
  onDone: () => void;
  onClose: () => void;
}) {
  const { api, notify } = useApp();
  return (
    <ConfirmDialog
      title={`Delete tag ${tag}?`}
      confirmLabel="Delete tag"
      danger
      onClose={onClose}
      onConfirm={async () => {
        await api.deleteTag(name, tag);
        notify(`Deleted tag ${name}:${tag}`);
        onDone();
      }}
    >
      <p>
        <code>
          {name}:{tag}
        </code>{' '}
        will no longer pull. Its manifest <code title={digest}>{shortDigest(digest)}</code> stays while other
        tags or pulls by digest use it; garbage collection frees what nothing references.
      </p>
    </ConfirmDialog>
  );
}

export function DeleteManifestDialog({
  name,
  digest,
  onDone,
  onClose,
}: {
  name: string;
  digest: string;
  onDone: () => void;
  onClose: () => void;
}) {
  const { api, notify } = useApp();
  return (
    <ConfirmDialog
      title="Delete this manifest?"
      confirmLabel="Delete manifest and its tags"
      danger
      onClose={onClose}
      onConfirm={async () => {
        await api.deleteManifest(name, digest);
        notify(`Deleted ${name}@${shortDigest(digest)}`);
        onDone();
      }}
    >
      <p>
        <code title={digest}>
          {name}@{shortDigest(digest)}
        </code>{' '}
        and every tag pointing at it will be deleted. Images pulled by this digest will no longer pull.
      </p>
    </ConfirmDialog>
  );
}

/** Retag: the same manifest under another tag, here or in another repository (no data is copied). */
export function RetagDialog({
  name,
  tag,
  onDone,
  onClose,
}: {
  name: string;
  tag: string;
  onDone: (target: { repository: string; tag: string }) => void;
  onClose: () => void;
}) {
  const { api, notify } = useApp();
  const [repository, setRepository] = useState(name);
  const [target, setTarget] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    const to = { repository: repository.trim(), tag: target.trim() };
    if (!to.tag || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.copyTag(name, tag, to);
      notify(`Tagged ${name}:${tag} as ${to.repository}:${to.tag}`);
      onDone(to);
      onClose();
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Retag ${name}:${tag}`} onClose={onClose}>
      <form onSubmit={submit} class="stack">
        <p class="muted">
          The new tag points at the same manifest. An existing tag of that name moves, unless it is immutable.
        </p>
        <label class="field">
          <span>Repository</span>
          <input
            value={repository}
            onInput={(e) => setRepository(e.currentTarget.value)}
            required
            pattern="[a-z0-9]+([._\-]+[a-z0-9]+)*(/[a-z0-9]+([._\-]+[a-z0-9]+)*)*"
            title="lower-case name components separated by /"
            spellcheck={false}
            autoComplete="off"
          />
        </label>
        <label class="field">
          <span>New tag</span>
          <input
            value={target}
            onInput={(e) => setTarget(e.currentTarget.value)}
            required
            autoFocus
            pattern="[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}"
            title="letters, digits, _ . - (128 at most; not starting with . or -)"
            placeholder="e.g. stable"
            spellcheck={false}
            autoComplete="off"
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Tagging…' : 'Add tag'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
