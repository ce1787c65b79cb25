"""The processes using the GPUs: GPU, pid, user, name, GPU memory; sortable.

`s` (app binding) cycles the sort column, `S` reverses it, clicking a header sorts by it.
The table is rebuilt only when its rows change, so an idle box costs no re-render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from console.core.sample import GpuProcessSample, Sample
from console.core.units import NA_TEXT, fmt_bytes

# column key -> (label, sort key on a process, default descending)
COLUMNS: dict[str, tuple[str, Callable[[GpuProcessSample], Any], bool]] = {
    "memory": ("GPU memory", lambda p: p.gpu_memory_bytes if p.gpu_memory_bytes is not None else -1,
               True),
    "gpu": ("GPU", lambda p: p.gpu_index, False),
    "pid": ("PID", lambda p: p.pid, False),
    "user": ("User", lambda p: p.user or "", False),
    "name": ("Name", lambda p: (p.name or "").lower(), False),
}
DISPLAY_ORDER = ("gpu", "pid", "user", "name", "memory")
SORT_CYCLE = tuple(COLUMNS)  # memory first: the question is usually "who holds the VRAM"


class GpuProcessTable(DataTable[Any]):
    DEFAULT_CSS = """
    GpuProcessTable { height: 1fr; min-height: 4; border-top: solid $primary-darken-1; }
    GpuProcessTable:focus { border-top: solid $accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.sort_column = "memory"
        self.sort_descending = COLUMNS["memory"][2]
        self._processes: tuple[GpuProcessSample, ...] = ()
        self._shown: tuple[Any, ...] | None = None
        self.border_title = "GPU processes"

    def on_mount(self) -> None:
        for key in DISPLAY_ORDER:
            # Room for the sort arrow from the start, so sorting never changes column widths.
            self.add_column(f"{COLUMNS[key][0]}  ", key=key)
        self._rebuild()

    def show(self, sample: Sample) -> None:
        self._processes = tuple(p for gpu in sample.gpus for p in gpu.processes)
        self._rebuild()

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        self.sort_column = column
        self.sort_descending = COLUMNS[column][2] if descending is None else descending
        self._rebuild()

    def cycle_sort(self) -> None:
        self.sort_by(SORT_CYCLE[(SORT_CYCLE.index(self.sort_column) + 1) % len(SORT_CYCLE)])

    def reverse_sort(self) -> None:
        self.sort_by(self.sort_column, not self.sort_descending)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column == self.sort_column:
            self.reverse_sort()
        else:
            self.sort_by(column)
        event.stop()

    def sorted_processes(self) -> list[GpuProcessSample]:
        key = COLUMNS[self.sort_column][1]
        # Ties keep a stable order by GPU then pid.
        ordered = sorted(self._processes, key=lambda p: (p.gpu_index, p.pid))
        return sorted(ordered, key=key, reverse=self.sort_descending)

    def _rebuild(self) -> None:
        rows = self.sorted_processes()
        shown = (self.sort_column, self.sort_descending, tuple(rows))
        if shown == self._shown or not self.columns:
            return
        self._shown = shown
        self._label_columns()
        selected = self._selected_row_key()
        self.clear()
        for p in rows:
            memory = Text(fmt_bytes(p.gpu_memory_bytes), justify="right")
            self.add_row(str(p.gpu_index), str(p.pid), p.user or NA_TEXT, p.name or NA_TEXT,
                         memory, key=f"{p.gpu_index}:{p.pid}")
        self.border_title = f"GPU processes ({len(rows)})"
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def _label_columns(self) -> None:
        arrow = "▼" if self.sort_descending else "▲"
        for key, column in self.columns.items():
            label = COLUMNS[str(key.value)][0]
            column.label = Text(f"{label} {arrow if key.value == self.sort_column else ' '}")

    def _selected_row_key(self) -> Any:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
