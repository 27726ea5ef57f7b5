using HaClient.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace HaClient.Sample;

/// <summary>An item as EF Core maps it (the same <c>sample_items</c> table as <see cref="ItemsEndpoints"/>).</summary>
public sealed class ItemRow
{
    public long Id { get; set; }

    public string Name { get; set; } = "";

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>The sample's DbContext, on the cluster through <c>UseHaClient</c>.</summary>
public sealed class SampleDb(DbContextOptions<SampleDb> options) : DbContext(options)
{
    public DbSet<ItemRow> Items => Set<ItemRow>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
        => modelBuilder.Entity<ItemRow>(e =>
        {
            e.ToTable("sample_items");
            e.Property(i => i.Id).HasColumnName("id");
            e.Property(i => i.Name).HasColumnName("name");
            e.Property(i => i.UpdatedAt).HasColumnName("updated_at").HasDefaultValueSql("now()");
        });
}

/// <summary>The items endpoints again, through EF Core (<c>/ef/items</c>): SaveChanges on the primary, raising the
/// request's read-your-writes token; no-tracking reads on a replica that has replayed past the client's token (else the
/// primary); an update loads the row tracked, so from the primary.</summary>
internal static class EfItemsEndpoints
{
    public static void MapEfItems(this IEndpointRouteBuilder app)
    {
        var items = app.MapGroup("/ef/items");
        items.MapGet("/", async (SampleDb db, CancellationToken ct) =>
            Results.Ok(await db.Items.AsNoTracking().OrderByDescending(i => i.Id).Take(100).ToListAsync(ct)));

        items.MapGet("/{id:long}", async (long id, SampleDb db, CancellationToken ct) =>
            await db.Items.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, ct) is { } item ? Results.Ok(item) : Results.NotFound());

        items.MapPost("/", async (ItemInput input, SampleDb db, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(input.Name))
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["name"] = ["A name is required."] });
            }

            var item = new ItemRow { Name = input.Name };
            db.Items.Add(item);
            await db.SaveChangesAsync(ct);
            return Results.Created($"/ef/items/{item.Id}", item);
        });

        items.MapPut("/{id:long}", async (long id, ItemInput input, SampleDb db, CancellationToken ct) =>
        {
            if (await db.Items.FirstOrDefaultAsync(i => i.Id == id, ct) is not { } item)
            {
                return Results.NotFound();
            }

            item.Name = input.Name;
            item.UpdatedAt = DateTimeOffset.UtcNow;
            await db.SaveChangesAsync(ct);
            return Results.Ok(item);
        });

        items.MapDelete("/{id:long}", async (long id, SampleDb db, CancellationToken ct) =>
            await db.Items.Where(i => i.Id == id).ExecuteDeleteAsync(ct) == 0 ? Results.NotFound() : Results.NoContent());
    }
}
