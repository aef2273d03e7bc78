// Light and dark themes: the system's (prefers-color-scheme) unless the user picked one with the
// toggle, kept in localStorage. styles.css reads `data-theme` on <html> through `color-scheme`.

export type Theme = 'system' | 'light' | 'dark';
const KEY = 'berth.theme';
export const THEMES: readonly Theme[] = ['system', 'light', 'dark'];

export function storedTheme(): Theme {
  try {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : 'system';
  } catch {
    return 'system';
  }
}

export function applyTheme(theme: Theme): void {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, theme);
  } catch {
    // storage refused (private mode): the choice lasts for this page
  }
}
