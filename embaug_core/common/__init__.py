"""What every stage shares: where a run writes (`home`), team mode (`team`), the device,
progress lines, CSV files a person opens, and the fingerprints that let unchanged work be
reused (`reuse`)."""
