// /repositories/<name>[/-/tags/<tag> | /-/manifests/<digest>]: which page a URL names (lib/routes.ts).
import { NotFoundPage } from './not-found.js';
import { RepositoryPage } from './repository.js';
import { ArtifactPage } from './artifact.js';
import { parseRepositoryRoute } from '../lib/routes.js';

export function RepositoryPages({ params }: { path?: string; params?: Record<string, string | undefined> }) {
  const page = parseRepositoryRoute(params?.rest ?? '');
  switch (page?.kind) {
    case 'repository':
      return <RepositoryPage key={page.name} name={page.name} />;
    case 'tag':
      return <ArtifactPage key={`${page.name}:${page.tag}`} name={page.name} tag={page.tag} />;
    case 'manifest':
      return <ArtifactPage key={`${page.name}@${page.digest}`} name={page.name} digest={page.digest} />;
    default:
      return <NotFoundPage />;
  }
}
