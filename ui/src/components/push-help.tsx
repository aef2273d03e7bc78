import { useApp } from '../app-context.js';
import { CopyField } from './copy.js';

/** How to put a first image here, with this registry's host in every command. */
export function PushHelp({ host, name = 'team/app' }: { host: string; name?: string }) {
  const { state } = useApp();
  const needsLogin = 'info' in state && state.info.authMode !== 'none';
  return (
    <div class="push-help">
      {needsLogin && <CopyField label="docker login command" text={`docker login ${host}`} />}
      <CopyField label="docker tag command" text={`docker tag app:latest ${host}/${name}:1.0`} />
      <CopyField label="docker push command" text={`docker push ${host}/${name}:1.0`} />
    </div>
  );
}
