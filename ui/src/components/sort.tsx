// Sort controls of a list: a select and an order toggle (toolbar, every width), and sortable column
// headers (tables, wide screens). Both change the page's URL (lib/list-params.ts).
import { defaultOrder, SORT_LABELS, type Order } from '../lib/list-params.js';

interface SortProps {
  sort: string;
  order: Order;
  onChange: (sort: string, order: Order) => void;
}

export function SortControls({ sorts, sort, order, onChange }: SortProps & { sorts: readonly string[] }) {
  return (
    <div class="sort-controls">
      <label>
        <span class="visually-hidden">Sort by</span>
        <select
          value={sort}
          aria-label="Sort by"
          onChange={(e) => onChange(e.currentTarget.value, defaultOrder(e.currentTarget.value))}
        >
          {sorts.map((value) => (
            <option key={value} value={value}>
              {SORT_LABELS[value as keyof typeof SORT_LABELS]}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        class="small"
        aria-label={order === 'asc' ? 'Ascending: switch to descending' : 'Descending: switch to ascending'}
        title={order === 'asc' ? 'Ascending' : 'Descending'}
        onClick={() => onChange(sort, order === 'asc' ? 'desc' : 'asc')}
      >
        {order === 'asc' ? '↑ Asc' : '↓ Desc'}
      </button>
    </div>
  );
}

export function SortHeader({
  label,
  value,
  sort,
  order,
  onChange,
  class: className,
}: SortProps & { label: string; value: string; class?: string }) {
  const active = sort === value;
  return (
    <th
      scope="col"
      class={className}
      aria-sort={active ? (order === 'asc' ? 'ascending' : 'descending') : undefined}
    >
      <button
        type="button"
        class="sort-header"
        onClick={() => onChange(value, active ? (order === 'asc' ? 'desc' : 'asc') : defaultOrder(value))}
      >
        {label}
        <span aria-hidden="true">{active ? (order === 'asc' ? ' ↑' : ' ↓') : ''}</span>
      </button>
    </th>
  );
}
