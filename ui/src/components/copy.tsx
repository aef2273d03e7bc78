import { useState } from 'preact/hooks';
import { useApp } from '../app-context.js';

/** Copies text: the Clipboard API (HTTPS and localhost), else the older copy command (plain HTTP). */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall back below
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

/** A command people copy (docker pull …): the text, selectable, and a Copy button. */
export function CopyField({ text, label }: { text: string; label: string }) {
  const { notify } = useApp();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    if (await copyText(text)) {
      setCopied(true);
      notify(`Copied: ${text}`);
      setTimeout(() => setCopied(false), 1500);
    } else {
      notify('The browser refused to copy: select the text and press Ctrl+C', 'error');
    }
  };
  return (
    <div class="copy-field">
      <code class="copy-text" aria-label={label} title={text}>
        {text}
      </code>
      <button type="button" class="small" onClick={copy} aria-label={`Copy ${label}`} data-copy={text}>
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** A small button that copies `text` (its title shows what); for rows with no room for the text. */
export function CopyButton({ text, label, caption }: { text: string; label: string; caption: string }) {
  const { notify } = useApp();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="small"
      title={text}
      aria-label={`Copy ${label}`}
      data-copy={text}
      onClick={async () => {
        if (await copyText(text)) {
          setCopied(true);
          notify(`Copied: ${text}`);
          setTimeout(() => setCopied(false), 1500);
        } else {
          notify('The browser refused to copy: open the tag and select the command', 'error');
        }
      }}
    >
      {copied ? 'Copied' : caption}
    </button>
  );
}
