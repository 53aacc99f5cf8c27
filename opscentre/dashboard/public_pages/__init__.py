"""The public view's parts: its data (view_data), its words (texts, bairro), its components."""
