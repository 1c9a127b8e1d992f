"""Running the graph from the command line: in-process runs (`runner`), the whole graph
(`graph`), and partitions side by side on workers (`parallel`)."""
